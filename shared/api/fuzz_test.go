package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/transcept/transcept/shared/lecture"
)

// FuzzDecodeJSON: a JSON request body decoded into each request type never
// panics; a failure is an EINVALID *lecture.Error; a success is one valid
// JSON value with only known fields and UTF-8 strings, and survives a
// re-encode unchanged.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"text":"Prof: Entropy never decreases.","format":"turns","ratio":0.3}`,
		`{"text":"1\n00:00:01,000 --> 00:00:02,000\nHi\n","format":"srt","max_words":50}`,
		`{"lecture_id":"lec-1","question":"What is entropy?"}`,
		`{"title":"Lecture 3","name":"l3.txt","text":"{vocalsound} Okay ."}`,
		`{"text":"a","unknown":1}`,
		`{"ratio":"0.3"}`,
		`{"max_words":1e400}`,
		`{"TEXT":"case","Question":"q"}`,
		`{"text":"a"} trailing`,
		"{\"text\":\"caf\xe9\"}",
		`[1,2]`,
		`null`,
		`{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&SummarizeRequest{}, &QARequest{}, &LectureRequest{}} {
			err := decodeJSON(body, v)
			if err != nil {
				var le *lecture.Error
				if !errors.As(err, &le) || lecture.ErrorCode(err) != lecture.EINVALID {
					t.Fatalf("decodeJSON(%q, %T): %T %v, want an EINVALID *lecture.Error", body, v, err, err)
				}
				continue
			}
			checkDecoded(t, body, v)
		}
	})
}

func checkDecoded(t *testing.T, body []byte, v any) {
	// One JSON value, UTF-8, nothing after it (RFC 8259).
	if !json.Valid(body) {
		t.Fatalf("decodeJSON(%q, %T) accepted what is not one JSON value", body, v)
	}
	rv := reflect.ValueOf(v).Elem()
	var names []string
	for i := 0; i < rv.NumField(); i++ {
		name, _, _ := strings.Cut(rv.Type().Field(i).Tag.Get("json"), ",")
		names = append(names, name)
		if s, ok := rv.Field(i).Interface().(string); ok && !utf8.ValidString(s) {
			t.Fatalf("decodeJSON(%q, %T): field %s is not UTF-8: %q", body, v, name, s)
		}
	}
	// Unknown fields are refused (matching is case-insensitive).
	var fields map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(body)).Decode(&fields) == nil {
		for k := range fields {
			known := false
			for _, n := range names {
				known = known || strings.EqualFold(k, n)
			}
			if !known {
				t.Fatalf("decodeJSON(%q, %T) accepted unknown field %q", body, v, k)
			}
		}
	}
	// What was decoded encodes and decodes back to the same.
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", v, err)
	}
	again := reflect.New(rv.Type())
	if err := decodeJSON(b, again.Interface()); err != nil {
		t.Fatalf("decodeJSON(%s) of its own output: %v", b, err)
	}
	if !reflect.DeepEqual(again.Elem().Interface(), rv.Interface()) {
		t.Fatalf("round trip changed %T:\n got %+v\nwant %+v", v, again.Elem().Interface(), rv.Interface())
	}
}
