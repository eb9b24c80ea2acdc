// Package lambda runs the HTTP functions and ingest as AWS Lambda handlers
// (API Gateway HTTP API events and S3 events), sharing their code with the
// Knative functions.
package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/transcept/transcept/shared/tracing"
)

// HTTP adapts an http.Handler to API Gateway HTTP API (payload 2.0) events.
func HTTP(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		body := []byte(req.Body)
		if req.IsBase64Encoded {
			b, err := base64.StdEncoding.DecodeString(req.Body)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: `{"error":{"code":"invalid","message":"body is not valid base64"}}`}, nil
			}
			body = b
		}
		path := req.RawPath
		if path == "" {
			path = req.RequestContext.HTTP.Path
		}
		if req.RawQueryString != "" {
			path += "?" + req.RawQueryString
		}
		method := req.RequestContext.HTTP.Method
		if method == "" {
			method = http.MethodGet
		}
		r := httptest.NewRequest(method, path, bytes.NewReader(body)).WithContext(ctx)
		for k, v := range req.Headers {
			r.Header.Set(k, v)
		}
		if len(req.Cookies) > 0 {
			r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		_ = tracing.Flush(ctx) // the process may be frozen until the next event
		resp := events.APIGatewayV2HTTPResponse{StatusCode: w.Code, Headers: map[string]string{}}
		for k, v := range w.Header() {
			resp.Headers[k] = strings.Join(v, ",")
		}
		if b := w.Body.Bytes(); utf8.Valid(b) {
			resp.Body = string(b)
		} else {
			resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), true
		}
		return resp, nil
	}
}
