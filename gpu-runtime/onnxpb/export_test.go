package onnxpb

// MatMulModelForTest lets the external test package (which may import ort,
// whose Inspect uses this package) build the same model.
var MatMulModelForTest = matMulModel
