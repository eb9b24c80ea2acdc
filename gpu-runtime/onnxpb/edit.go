package onnxpb

// Encoders for code outside this package that rewrites a model's bytes field
// by field (see Fields): the quantiser replaces nodes and initializers and
// keeps everything else as it was.

// Field numbers of onnx.proto that such rewrites need.
const (
	FieldModelGraph       = modelGraph
	FieldModelOpsetImport = modelOpsetImport
	FieldGraphNode        = graphNode
	FieldGraphInit        = graphInitializer
	FieldNodeInput        = nodeInput
	FieldNodeOutput       = nodeOutput
	FieldNodeName         = nodeName
	FieldNodeOpType       = nodeOpType
	FieldNodeAttribute    = nodeAttribute
	FieldNodeDomain       = nodeDomain
	FieldAttrName         = attrName
	FieldAttrG            = attrG
	FieldAttrInts         = attrInts
	FieldAttrGraphs       = 11
	FieldOpsetDomain      = opsetDomain
	FieldTensorDims       = tensorDims
	FieldTensorDataType   = tensorDataType
	FieldTensorFloat      = tensorFloat
	FieldTensorName       = tensorName
	FieldTensorRaw        = tensorRaw
	FieldTensorExternal   = tensorExternal
	FieldTensorLocation   = tensorLocation
	FieldKey              = kvKey
	FieldValue            = kvValue
)

// AppendBytes appends a length-delimited field.
func AppendBytes(b []byte, field int, p []byte) []byte {
	x := buf(b)
	x.bytes(field, p)
	return x
}

// MarshalNode encodes a NodeProto.
func MarshalNode(n *Node) []byte {
	var b buf
	writeNode(&b, n)
	return b
}

// MarshalTensor encodes a TensorProto.
func MarshalTensor(t *Tensor) []byte {
	var b buf
	writeTensor(&b, t)
	return b
}

// MarshalOpSet encodes an OperatorSetIdProto.
func MarshalOpSet(o OpSet) []byte {
	var b buf
	b.strOpt(opsetDomain, o.Domain)
	b.varint(opsetVersion, uint64(o.Version))
	return b
}
