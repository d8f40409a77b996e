package extproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// chatRequest is what the router reads of an OpenAI chat completions body:
//
//	{"model": "auto", "messages": [{"role": "user", "content": "..."}, ...], ...}
//
// Keys match exactly (encoding/json would match struct fields ignoring
// case: {"MESSAGES": ...} is not a chat request).
type chatRequest struct {
	// fields is the whole object, re-encoded when the model is replaced:
	// fields the router does not read pass through unchanged.
	fields map[string]json.RawMessage
	// model is the requested model, "" when absent.
	model string
	// prompt is the text of the last user message.
	prompt string
}

// parseChat decodes a chat completions body. Its errors are messages for
// the client.
func parseChat(body []byte) (*chatRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New(`request body is empty: expected a chat completions request {"model": ..., "messages": [...]}`)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, describeJSONError(err)
	}
	if fields == nil { // the body is null
		return nil, errors.New("invalid request: expected a JSON object, not null")
	}
	req := &chatRequest{fields: fields}
	if raw, ok := fields["model"]; ok {
		model, ok := decodeString(raw)
		if !ok {
			return nil, errors.New(`invalid request: field "model" must be a string`)
		}
		req.model = model
	}
	raw, ok := fields["messages"]
	if !ok || isNull(raw) {
		return nil, errors.New(`missing field "messages"`)
	}
	var messages []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &messages); err != nil {
		return nil, errors.New(`invalid request: field "messages" must be an array of objects`)
	}
	for i := len(messages) - 1; i >= 0; i-- {
		m := messages[i]
		if m == nil {
			return nil, fmt.Errorf("invalid request: messages[%d] must be an object, not null", i)
		}
		role, ok := decodeString(m["role"])
		if !ok {
			return nil, fmt.Errorf(`invalid request: messages[%d]: field "role" must be a string`, i)
		}
		if role != "user" {
			continue
		}
		text, err := contentText(m["content"])
		if err != nil {
			return nil, fmt.Errorf("invalid request: messages[%d]: %v", i, err)
		}
		switch {
		case strings.TrimSpace(text) == "":
			return nil, fmt.Errorf("the last user message (messages[%d]) has no text", i)
		case strings.IndexByte(text, 0) >= 0:
			return nil, fmt.Errorf("the last user message (messages[%d]) contains a NUL character", i)
		}
		req.prompt = text
		return req, nil
	}
	return nil, errors.New(`no message with role "user"`)
}

// contentText is the text of a message's content: a string, or an array of
// parts whose "text" parts are joined by newlines (other parts, such as
// images, are left out).
func contentText(raw json.RawMessage) (string, error) {
	if raw == nil || isNull(raw) {
		return "", errors.New(`missing field "content"`)
	}
	if s, ok := decodeString(raw); ok {
		return s, nil
	}
	var parts []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New(`field "content" must be a string or an array of content parts`)
	}
	var texts []string
	for j, p := range parts {
		typ, ok := decodeString(p["type"])
		if !ok {
			return "", fmt.Errorf(`content[%d]: field "type" must be a string`, j)
		}
		if typ != "text" {
			continue
		}
		text, ok := decodeString(p["text"])
		if !ok {
			return "", fmt.Errorf(`content[%d]: field "text" must be a string`, j)
		}
		texts = append(texts, text)
	}
	return strings.Join(texts, "\n"), nil
}

// withModel returns the body with its model replaced. The other fields are
// kept as sent (in key order, without insignificant white space).
func (c *chatRequest) withModel(model string) ([]byte, error) {
	fields := make(map[string]json.RawMessage, len(c.fields))
	for k, v := range c.fields {
		fields[k] = v
	}
	m, err := json.Marshal(model)
	if err != nil {
		return nil, err
	}
	fields["model"] = m
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <, > and & as sent
	if err := enc.Encode(fields); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeString decodes a JSON string; absent, null and other types are not.
func decodeString(raw json.RawMessage) (string, bool) {
	if raw == nil || isNull(raw) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// describeJSONError turns an error decoding the body into a message.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at offset %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		return fmt.Errorf("invalid request: expected a JSON object, not %s", typ.Value)
	default:
		return fmt.Errorf("invalid JSON: %v", err)
	}
}
