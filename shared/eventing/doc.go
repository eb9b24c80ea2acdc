// Package eventing is the one event deliverer and the CloudEvents adapter.
//
// Bus delivers messages to triggers with the Trigger semantics of Knative
// Eventing: filter, retry with exponential (or linear) backoff, then a
// dead-letter sink. `transcept serve` runs one over pipeline events
// (NewBus); with a Journal it is durable: every accepted delivery is
// written down before it is queued and removed only once it is done, so
// work survives a crash. Broker is the local stand-in for a Knative Broker:
// the same Bus over CloudEvents, with triggers read from infra/eventing
// that post to the functions over HTTP.
//
// It is the only package that imports the CloudEvents SDK: functions use
// CloudEvent, ToCloudEvent, FromCloudEvent, ReadHTTP and Sender.
package eventing
