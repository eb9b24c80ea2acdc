package main

import (
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
)

func binaryMessage(e cloudevents.Event) binding.Message { return binding.ToMessage(&e) }
