// Package events defines the pipeline's event types and their data (references
// to objects, never payloads), and an in-process broker that delivers them to
// subscribers with the Trigger semantics of Knative Eventing: filter by type,
// retry with exponential backoff, then a dead-letter sink. With a Journal the
// broker is durable: every accepted delivery is written down before it is
// queued and removed only once it is done, so work survives a crash.
package events
