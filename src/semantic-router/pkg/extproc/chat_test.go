package extproc

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseChat(t *testing.T) {
	cases := []struct {
		name, body, model, prompt string
	}{
		{"string content", `{"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}`, "gpt-4o", "hello"},
		{"no model", `{"messages": [{"role": "user", "content": "hello"}]}`, "", "hello"},
		{"last user message", `{"model": "auto", "messages": [
			{"role": "system", "content": "be brief"},
			{"role": "user", "content": "first"},
			{"role": "assistant", "content": "answer"},
			{"role": "user", "content": "second"},
			{"role": "assistant", "content": "trailing"}]}`, "auto", "second"},
		{"content parts", `{"messages": [{"role": "user", "content": [
			{"type": "text", "text": "one"},
			{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
			{"type": "text", "text": "two"}]}]}`, "", "one\ntwo"},
		{"unknown fields kept", `{"stream": true, "messages": [{"role": "user", "content": "x", "name": "bob"}], "tools": []}`, "", "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := parseChat([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if req.model != c.model || req.prompt != c.prompt {
				t.Fatalf("model %q prompt %q, want %q %q", req.model, req.prompt, c.model, c.prompt)
			}
		})
	}
}

func TestParseChatErrors(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"empty", "  ", "request body is empty"},
		{"not JSON", `model=auto`, "invalid JSON at offset 1"},
		{"truncated", `{"messages": [`, "invalid JSON"},
		{"trailing data", `{"messages": []} {}`, "invalid JSON"},
		{"array", `[{"role": "user", "content": "x"}]`, "expected a JSON object, not array"},
		{"string", `"hello"`, "expected a JSON object, not string"},
		{"null", `null`, "expected a JSON object, not null"},
		{"no messages", `{"model": "auto"}`, `missing field "messages"`},
		{"null messages", `{"messages": null}`, `missing field "messages"`},
		{"messages not an array", `{"messages": "hi"}`, `"messages" must be an array of objects`},
		{"message not an object", `{"messages": ["hi"]}`, `"messages" must be an array of objects`},
		{"null message", `{"messages": [null]}`, "messages[0] must be an object, not null"},
		{"no user message", `{"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "y"}]}`, `no message with role "user"`},
		{"empty messages", `{"messages": []}`, `no message with role "user"`},
		{"role not a string", `{"messages": [{"role": 1, "content": "x"}]}`, `messages[0]: field "role" must be a string`},
		{"no role", `{"messages": [{"content": "x"}]}`, `messages[0]: field "role" must be a string`},
		{"MESSAGES", `{"MESSAGES": [{"role": "user", "content": "x"}]}`, `missing field "messages"`},
		{"Messages", `{"Messages": [{"role": "user", "content": "x"}]}`, `missing field "messages"`},
		{"ROLE", `{"messages": [{"ROLE": "user", "content": "x"}]}`, `field "role" must be a string`},
		{"role USER", `{"messages": [{"role": "USER", "content": "x"}]}`, `no message with role "user"`},
		{"CONTENT", `{"messages": [{"role": "user", "CONTENT": "x"}]}`, `missing field "content"`},
		{"TEXT part", `{"messages": [{"role": "user", "content": [{"type": "text", "TEXT": "x"}]}]}`, `content[0]: field "text" must be a string`},
		{"Model", `{"Model": 3, "messages": [{"role": "user", "content": ""}]}`, "has no text"},
		{"model not a string", `{"model": 4, "messages": [{"role": "user", "content": "x"}]}`, `field "model" must be a string`},
		{"null content", `{"messages": [{"role": "user", "content": null}]}`, `missing field "content"`},
		{"content a number", `{"messages": [{"role": "user", "content": 7}]}`, `"content" must be a string or an array of content parts`},
		{"part without type", `{"messages": [{"role": "user", "content": [{"text": "x"}]}]}`, `content[0]: field "type" must be a string`},
		{"no text part", `{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]}`, "has no text"},
		{"blank content", `{"messages": [{"role": "user", "content": " \n\t"}]}`, "(messages[0]) has no text"},
		{"NUL", `{"messages": [{"role": "user", "content": "a\u0000b"}]}`, "NUL"},
		{"last user message empty", `{"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": ""}]}`, "(messages[1]) has no text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseChat([]byte(c.body))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestWithModel(t *testing.T) {
	body := `{"model": "auto", "temperature": 0.25, "big": 12345678901234567890,
		"messages": [{"role": "user", "content": "<b>fish & chips</b> \u00e9"}],
		"extra": {"nested": [1, "two", null]}, "stream": true}`
	req, err := parseChat([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	out, err := req.withModel(`qwen "coder"`)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]interface{}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	want["model"] = `qwen "coder"`
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rewritten body %s\nwant the fields of %s", out, body)
	}
	// Numbers and strings keep their text: no float rounding, no HTML escaping.
	for _, s := range []string{`12345678901234567890`, `"<b>fish & chips</b> \u00e9"`, `"model":"qwen \"coder\""`} {
		if !strings.Contains(string(out), s) {
			t.Errorf("rewritten body %s lacks %s", out, s)
		}
	}
	// The request itself is unchanged.
	if string(req.fields["model"]) != `"auto"` {
		t.Fatalf("withModel changed the request: model %s", req.fields["model"])
	}
}
