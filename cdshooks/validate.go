package cdshooks

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/balint-health/balint/errs"
	"github.com/balint-health/balint/jsonscan"
)

// jsonOptions decode hook and feedback bodies with the same v2 decoder that
// reads FHIR content (one fast pass; see docs/performance.md). Duplicate
// names are left to the FHIR layer, which skips the one entry that has them
// rather than refusing the whole call; invalid UTF-8 is replaced, as
// encoding/json did.
var jsonOptions = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// FieldError says which field of a request is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an invalid input.
func (e *FieldError) Unwrap() error { return errs.Invalid }

// Public says the message may be shown to the caller: it names the field,
// never the offending value.
func (e *FieldError) Public() string { return e.Error() }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// fhirID is FHIR R4's id datatype. Context ids are checked against it
// because they are pasted into prefetch queries.
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// uuidLike accepts the canonical 8-4-4-4-12 hex form the spec asks for.
var uuidLike = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Read says where the prefetch value that begins at body[start] ends, if
// it has already been read and found to be valid JSON nested no deeper
// than a prefetch value may be (client.Ahead reads a large prefetch while
// the call is checked). On false the check reads the value itself.
type Read func(start int) (end int, ok bool)

// DecodeRequest parses and validates a hook call body for a service that
// handles hook. It returns a *FieldError (or a syntax error wrapped in one)
// so the caller can answer 400 with a precise message.
//
// templates are the service's prefetch templates: a value under a key the
// service did not ask for is not read, so a malformed one is dropped, not
// refused. read may be nil.
func DecodeRequest(body []byte, hook string, templates map[string]string, read Read) (*Request, *HookContext, error) {
	var req Request
	if err := decodeRequest(body, &req, read); err != nil {
		return nil, nil, err
	}
	if req.Hook == "" {
		return nil, nil, fieldErr("hook", "required")
	}
	if req.Hook != hook {
		return nil, nil, fieldErr("hook", "this service handles %q, not %q", hook, req.Hook)
	}
	if req.HookInstance == "" {
		return nil, nil, fieldErr("hookInstance", "required")
	}
	if !uuidLike.MatchString(req.HookInstance) {
		return nil, nil, fieldErr("hookInstance", "must be a UUID")
	}
	if req.FHIRServer != "" {
		u, err := url.Parse(req.FHIRServer)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, fieldErr("fhirServer", "must be an absolute http(s) URL")
		}
	}
	if a := req.FHIRAuthorization; a != nil {
		if req.FHIRServer == "" {
			return nil, nil, fieldErr("fhirAuthorization", "given without fhirServer")
		}
		switch {
		case a.AccessToken == "":
			return nil, nil, fieldErr("fhirAuthorization.access_token", "required")
		case !strings.EqualFold(a.TokenType, "Bearer"):
			return nil, nil, fieldErr("fhirAuthorization.token_type", "must be Bearer")
		}
		// scope and subject are required by the specification, but a
		// client that sends a token without them has still given what a
		// fetch needs: be liberal.
	}
	for k, v := range req.Prefetch {
		t := firstByte(v)
		if t != '{' && t != 'n' {
			if _, asked := templates[k]; !asked {
				// A key Balint did not ask for: not read, so not refused.
				delete(req.Prefetch, k)
				continue
			}
			return nil, nil, fieldErr("prefetch."+k, "must be a FHIR resource (object) or null")
		}
	}
	if len(bytes.TrimSpace(req.Context)) == 0 || string(bytes.TrimSpace(req.Context)) == "null" {
		return nil, nil, fieldErr("context", "required")
	}
	// Only the prefetch may hold on to the body, which is let go once the
	// history is decoded (services); the context is small, and copied.
	req.Context = bytes.Clone(req.Context)
	var hc HookContext
	if firstByte(req.Context) != '{' {
		return nil, nil, fieldErr("context", "must be an object")
	}
	if err := json.Unmarshal(req.Context, &hc, jsonOptions); err != nil {
		return nil, nil, jsonFieldErr("context", err)
	}
	if err := validateContext(hook, &hc); err != nil {
		return nil, nil, err
	}
	return &req, &hc, nil
}

func validateContext(hook string, hc *HookContext) error {
	if hc.UserID == "" {
		return fieldErr("context.userId", "required")
	}
	if _, _, ok := splitReference(hc.UserID); !ok {
		return fieldErr("context.userId", "must be a relative reference such as Practitioner/123")
	}
	if hc.PatientID == "" {
		return fieldErr("context.patientId", "required")
	}
	if !fhirID.MatchString(hc.PatientID) {
		return fieldErr("context.patientId", "must be a FHIR id ([A-Za-z0-9-.], 1-64 characters)")
	}
	if hc.EncounterID == "" && hook == "encounter-start" {
		// Required by the encounter-start hook's context (1.0).
		return fieldErr("context.encounterId", "required for encounter-start")
	}
	if hc.EncounterID != "" && !fhirID.MatchString(hc.EncounterID) {
		return fieldErr("context.encounterId", "must be a FHIR id ([A-Za-z0-9-.], 1-64 characters)")
	}
	switch hook {
	case "order-select", "order-sign":
		if firstByte(hc.DraftOrders) != '{' {
			return fieldErr("context.draftOrders", "required: a FHIR Bundle of the draft orders")
		}
		var b struct {
			ResourceType string `json:"resourceType"`
			Entry        []struct {
				Resource struct {
					ResourceType string `json:"resourceType"`
					ID           string `json:"id"`
				} `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(hc.DraftOrders, &b, jsonOptions); err != nil {
			return jsonFieldErr("context.draftOrders", err)
		}
		if b.ResourceType != "Bundle" {
			return fieldErr("context.draftOrders.resourceType", "must be Bundle")
		}
		ids := map[string]bool{}
		for i, e := range b.Entry {
			if e.Resource.ResourceType == "" {
				return fieldErr(fmt.Sprintf("context.draftOrders.entry[%d].resource", i), "must be a FHIR resource")
			}
			ids[e.Resource.ResourceType+"/"+e.Resource.ID] = true
		}
		if hook == "order-select" && len(hc.Selections) == 0 {
			return fieldErr("context.selections", "required for order-select")
		}
		for i, s := range hc.Selections {
			if !ids[s] {
				return fieldErr(fmt.Sprintf("context.selections[%d]", i), "names no resource in draftOrders")
			}
		}
	}
	return nil
}

// DecodeFeedback parses and validates a feedback body.
func DecodeFeedback(body []byte) (*FeedbackRequest, error) {
	var fr FeedbackRequest
	if err := decodeObject(body, &fr); err != nil {
		return nil, err
	}
	if len(fr.Feedback) == 0 {
		return nil, fieldErr("feedback", "required: at least one entry")
	}
	for i, f := range fr.Feedback {
		p := fmt.Sprintf("feedback[%d].", i)
		if f.Card == "" {
			return nil, fieldErr(p+"card", "required")
		}
		if !uuidLike.MatchString(f.Card) {
			return nil, fieldErr(p+"card", "must be the uuid of a card")
		}
		switch f.Outcome {
		case OutcomeAccepted:
			if f.OverrideReason != nil {
				return nil, fieldErr(p+"overrideReason", "only allowed with outcome overridden")
			}
		case OutcomeOverridden:
			if len(f.AcceptedSuggestions) > 0 {
				return nil, fieldErr(p+"acceptedSuggestions", "only allowed with outcome accepted")
			}
		case "":
			return nil, fieldErr(p+"outcome", "required")
		default:
			return nil, fieldErr(p+"outcome", "must be accepted or overridden, not %q", f.Outcome)
		}
		for j, s := range f.AcceptedSuggestions {
			if s.ID == "" {
				return nil, fieldErr(fmt.Sprintf("%sacceptedSuggestions[%d].id", p, j), "required")
			}
		}
		if f.OutcomeTimestamp == "" {
			return nil, fieldErr(p+"outcomeTimestamp", "required")
		}
		if _, err := time.Parse(time.RFC3339, f.OutcomeTimestamp); err != nil {
			return nil, fieldErr(p+"outcomeTimestamp", "must be an ISO 8601 instant with a time zone")
		}
	}
	return &fr, nil
}

func decodeObject(body []byte, v any) error {
	if firstByte(body) != '{' {
		if !jsontext.Value(body).IsValid(jsonOptions) {
			return fieldErr("body", "not valid JSON")
		}
		return fieldErr("body", "must be a JSON object")
	}
	// Raw parts (prefetch, context) are kept as slices of the body rather
	// than copies: a prefetch is megabytes, decoded once and let go.
	alias := json.WithUnmarshalers(json.UnmarshalFromFunc(func(dec *jsontext.Decoder, m *stdjson.RawMessage) error {
		start := dec.InputOffset()
		if err := dec.SkipValue(); err != nil {
			return err
		}
		*m = bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n:,")
		return nil
	}))
	if err := json.Unmarshal(body, v, jsonOptions, alias); err != nil {
		return jsonFieldErr("body", err)
	}
	return nil
}

// decodeRequest decodes a hook call as decodeObject does, faster: the
// prefetch, which is nearly all of a large call, is only found (its values
// stay slices of the body, read once, by the FHIR decoder), or passed over
// where read says the FHIR decoder has already read it, and the rest of
// the body is decoded by the v2 decoder. A body it is unsure of is
// decoded whole by decodeObject, whose errors are the ones reported.
func decodeRequest(body []byte, req *Request, read Read) error {
	s := jsonscan.Scanner{Data: body}
	var at [2]int // where the prefetch value begins and ends
	seen := 0
	prefetch := map[string]stdjson.RawMessage{}
	ok := firstByte(body) == '{' && s.Object(func(name string) bool {
		if name != "prefetch" {
			_, ok := s.Skip()
			return ok
		}
		seen++
		at[0] = s.SkipSpace()
		ok := s.Object(func(key string) bool {
			start := s.SkipSpace()
			end, ok := read.at(start)
			if ok {
				s.Pos = end
			} else {
				_, ok = s.Skip()
			}
			// The name is a view of the body, and a map key must never
			// change with the bytes under it.
			prefetch[strings.Clone(key)] = body[start:s.Pos]
			return ok
		})
		at[1] = s.Pos
		return ok
	})
	if !ok || seen != 1 || s.SkipSpace() != len(body) {
		return decodeObject(body, req)
	}
	rest := make([]byte, 0, len(body)-(at[1]-at[0])+2)
	rest = append(append(append(rest, body[:at[0]]...), "{}"...), body[at[1]:]...)
	if err := decodeObject(rest, req); err != nil {
		return decodeObject(body, req)
	}
	req.Prefetch = prefetch
	return nil
}

// PrefetchDepth is how deep a prefetch value is nested in a hook call: in
// the prefetch object, in the call's object.
const PrefetchDepth = 2

func (r Read) at(start int) (int, bool) {
	if r == nil {
		return 0, false
	}
	return r(start)
}

// jsonFieldErr turns the decoder's errors into a FieldError naming the
// field, without echoing the offending value back.
func jsonFieldErr(where string, err error) error {
	var se *json.SemanticError
	if errors.As(err, &se) && se.GoType != nil && se.JSONKind != 0 {
		f := fieldPath(se.JSONPointer)
		switch {
		case f == "":
			f = where
		case where != "body":
			f = where + "." + f
		}
		return fieldErr(f, "must be %s, not %s", jsonKind(se.GoType.Kind().String()), kindName(se.JSONKind))
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		if errors.Is(err, jsontext.ErrDuplicateName) {
			return fieldErr(where, "not valid JSON (duplicate name at byte %d)", syn.ByteOffset)
		}
		return fieldErr(where, "not valid JSON (at byte %d)", syn.ByteOffset)
	}
	return fieldErr(where, "not valid JSON")
}

// fieldPath writes a JSON pointer the way the messages name fields:
// /context/selections/0 -> context.selections[0].
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "string"
	case '0':
		return "number"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "unknown"
}

func jsonKind(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "int", "int64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	default:
		return "a " + k
	}
}

func firstByte(b []byte) byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// splitReference splits "Type/id" into its parts.
func splitReference(ref string) (typ, id string, ok bool) {
	typ, id, ok = strings.Cut(ref, "/")
	if !ok || typ == "" || !fhirID.MatchString(id) {
		return "", "", false
	}
	for _, r := range typ {
		if (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') {
			return "", "", false
		}
	}
	return typ, id, true
}
