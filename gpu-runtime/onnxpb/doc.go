// Package onnxpb writes and reads the small part of the ONNX protobuf format
// that Transcept needs, with no dependency beyond the standard library.
//
// Writing: tests and the random-weight model generators build graphs by hand
// (nodes, attributes with subgraphs, initializers, typed inputs and outputs)
// and marshal them to .onnx bytes that ONNX Runtime loads. Models past
// protobuf's 2 GB limit keep their weights in ONNX external data
// (model.onnx + model.onnx_data, as onnx-community exports do): an
// ExternalWriter streams each tensor to the data file as it is made.
//
// Reading: Inspect streams a .onnx file and returns its graph's inputs,
// outputs, initializer names and external data references without loading
// the weights, so a model folder can be checked (expected input names,
// element types, data files present) in milliseconds and with errors that
// name the file, before ONNX Runtime spends seconds building a session, and
// even in builds without cgo.
//
// Rewriting: LastPositionOnly edits a model's bytes so that a language
// model's lm_head sees only the last position.
package onnxpb
