package jsonscan

import (
	"encoding/binary"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth is the v2 decoder's limit on nesting.
const MaxDepth = 10000

// Scanner reads JSON from Data, starting at Pos.
type Scanner struct {
	Data []byte
	Pos  int
	// Strict refuses what the v2 decoder accepts but changes on reading:
	// invalid UTF-8, lone surrogates, and names with escapes or bytes
	// beyond ASCII.
	Strict bool
	// MaxDepth bounds nesting; 0 is the v2 decoder's limit.
	MaxDepth int
	depth    int
}

// Mark is a place in the input to come back to.
type Mark struct{ pos, depth int }

// Mark is where s is.
func (s *Scanner) Mark() Mark { return Mark{s.Pos, s.depth} }

// Reset returns s to m.
func (s *Scanner) Reset(m Mark) { s.Pos, s.depth = m.pos, m.depth }

// SkipSpace moves past whitespace and returns where s then is.
func (s *Scanner) SkipSpace() int {
	p := s.Pos
	for p < len(s.Data) && (s.Data[p] == ' ' || s.Data[p] == '\n' || s.Data[p] == '\t' || s.Data[p] == '\r') {
		p++
	}
	s.Pos = p
	return p
}

// Peek is the next byte after whitespace, 0 at the end.
func (s *Scanner) Peek() byte {
	if s.Pos < len(s.Data) && s.Data[s.Pos] > ' ' {
		return s.Data[s.Pos] // compact JSON: no space to skip
	}
	if s.SkipSpace() < len(s.Data) {
		return s.Data[s.Pos]
	}
	return 0
}

// Consume moves past c, the next byte after whitespace, if it is.
func (s *Scanner) Consume(c byte) bool {
	if s.Peek() == c {
		s.Pos++
		return true
	}
	return false
}

func (s *Scanner) maxDepth() int {
	if s.MaxDepth > 0 {
		return s.MaxDepth
	}
	return MaxDepth
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain reports, for 8 bytes of a string, whether none of them ends it,
// escapes, is a control character or is beyond ASCII.
func plain(w uint64) bool {
	quote := w ^ (ones * '"')
	slash := w ^ (ones * '\\')
	special := (quote - ones) &^ quote
	special |= (slash - ones) &^ slash
	special |= (w - ones*0x20) &^ w
	special |= w
	return special&highs == 0
}

// String reads a JSON string and returns its content: a slice of Data, or,
// if it has escapes, the content unescaped into scratch. ok is false for a
// string the v2 decoder rejects (and in strict mode for one it would
// change).
func (s *Scanner) String(scratch []byte) (b []byte, ok bool) {
	return s.str(scratch, true)
}

// str reads a string; keep says whether the content of one with escapes
// is wanted, or only whether it is valid.
func (s *Scanner) str(scratch []byte, keep bool) (b []byte, ok bool) {
	if s.Peek() != '"' {
		return nil, false
	}
	s.Pos++
	start, ascii := s.Pos, true
	data := s.Data
	p := s.Pos
	for {
		for p+8 <= len(data) && plain(binary.LittleEndian.Uint64(data[p:])) {
			p += 8
		}
		for p < len(data) && data[p] != '"' && data[p] != '\\' && data[p] >= 0x20 && data[p] < 0x80 {
			p++
		}
		if p >= len(data) {
			s.Pos = p
			return nil, false
		}
		switch c := data[p]; {
		case c == '"':
			s.Pos = p + 1
			b = data[start:p]
			if !ascii && s.Strict && !utf8.Valid(b) {
				return nil, false
			}
			return b, true
		case c == '\\':
			s.Pos = p
			return s.escaped(start, scratch, keep)
		case c < 0x20:
			s.Pos = p
			return nil, false
		default:
			ascii = false
			p++
		}
	}
}

// escaped finishes a string that has an escape, from start.
func (s *Scanner) escaped(start int, out []byte, keep bool) ([]byte, bool) {
	data := s.Data
	if !keep {
		if s.Strict {
			out = nil // still checked as UTF-8 below, so kept
			keep = true
		}
	}
	if keep {
		out = append(out[:0], data[start:s.Pos]...)
	}
	for s.Pos < len(data) {
		c := data[s.Pos]
		switch {
		case c == '"':
			s.Pos++
			return out, !s.Strict || utf8.Valid(out)
		case c < 0x20:
			return nil, false
		case c != '\\':
			if keep {
				out = append(out, c)
			}
			s.Pos++
			continue
		}
		if s.Pos+1 >= len(data) {
			return nil, false
		}
		e := data[s.Pos+1]
		s.Pos += 2
		one := e
		switch e {
		case '"', '\\', '/':
		case 'b':
			one = '\b'
		case 'f':
			one = '\f'
		case 'n':
			one = '\n'
		case 'r':
			one = '\r'
		case 't':
			one = '\t'
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, false
			}
			if utf16.IsSurrogate(r) {
				if s.Pos+1 >= len(data) || data[s.Pos] != '\\' || data[s.Pos+1] != 'u' {
					if s.Strict {
						return nil, false
					}
					continue // the v2 decoder puts U+FFFD for it
				}
				s.Pos += 2
				r2, ok := s.hex4()
				if !ok {
					return nil, false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError && s.Strict {
					return nil, false
				}
			}
			if keep {
				out = utf8.AppendRune(out, r)
			}
			continue
		default:
			return nil, false
		}
		if keep {
			out = append(out, one)
		}
	}
	return nil, false
}

func (s *Scanner) hex4() (rune, bool) {
	if s.Pos+4 > len(s.Data) {
		return 0, false
	}
	var r rune
	for _, c := range s.Data[s.Pos : s.Pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.Pos += 4
	return r, true
}

// Number reads a JSON number, strictly by the grammar, and returns its
// literal.
func (s *Scanner) Number() ([]byte, bool) {
	start := s.SkipSpace()
	data := s.Data
	p := start
	digits := func() int {
		n := p
		for p < len(data) && '0' <= data[p] && data[p] <= '9' {
			p++
		}
		return p - n
	}
	if p < len(data) && data[p] == '-' {
		p++
	}
	if p < len(data) && data[p] == '0' {
		p++
	} else if digits() == 0 {
		return nil, false
	}
	if p < len(data) && data[p] == '.' {
		p++
		if digits() == 0 {
			return nil, false
		}
	}
	if p < len(data) && (data[p] == 'e' || data[p] == 'E') {
		p++
		if p < len(data) && (data[p] == '+' || data[p] == '-') {
			p++
		}
		if digits() == 0 {
			return nil, false
		}
	}
	s.Pos = p
	return data[start:p], true
}

// Literal moves past word (true, false or null) if it is next.
func (s *Scanner) Literal(word string) bool {
	if s.SkipSpace()+len(word) <= len(s.Data) && string(s.Data[s.Pos:s.Pos+len(word)]) == word {
		s.Pos += len(word)
		return true
	}
	return false
}

// Skip moves past one value and returns where it began.
func (s *Scanner) Skip() (start int, ok bool) {
	start = s.SkipSpace()
	// closers holds the byte that ends each open object or array; the
	// first 64 levels need no allocation.
	var buf [64]byte
	closers := buf[:0]
	for {
		// A value.
		var ok bool
		switch s.Peek() {
		case '{':
			s.Pos++
			if len(closers)+s.depth >= s.maxDepth() {
				return start, false // an empty one counts too
			}
			if s.Consume('}') {
				ok = true
				break
			}
			if !s.skipName() {
				return start, false
			}
			closers = append(closers, '}')
			continue
		case '[':
			s.Pos++
			if len(closers)+s.depth >= s.maxDepth() {
				return start, false
			}
			if s.Consume(']') {
				ok = true
				break
			}
			closers = append(closers, ']')
			continue
		case '"':
			_, ok = s.str(nil, false)
		case 't':
			ok = s.Literal("true")
		case 'f':
			ok = s.Literal("false")
		case 'n':
			ok = s.Literal("null")
		default:
			_, ok = s.Number()
		}
		if !ok {
			return start, false
		}
		// After a value: the next of its container, or the container's end.
		for {
			if len(closers) == 0 {
				return start, true
			}
			top := closers[len(closers)-1]
			if s.Consume(',') {
				if top == '}' && !s.skipName() {
					return start, false
				}
				break
			}
			if !s.Consume(top) {
				return start, false
			}
			closers = closers[:len(closers)-1]
		}
	}
}

// Extent finds where the object or array after s's whitespace ends,
// reading no more than limit bytes and checking only its brackets, its
// strings' ends and its nesting, not what is between: s does not move. ok
// is false for anything else, for a value longer than limit, and for one
// nested deeper than s may go. A caller that takes data[start:end] for a
// value must have checked those bytes before: an object or array ends
// where its bytes say, so bytes equal to a value read whole are that value.
func (s *Scanner) Extent(limit int) (start, end int, ok bool) {
	data := s.Data
	at := *s
	start = at.SkipSpace()
	if start == len(data) || data[start] != '{' && data[start] != '[' {
		return start, 0, false
	}
	stop := min(len(data), start+limit)
	room := s.maxDepth() - s.depth
	depth := 0
	for i := start; i < stop; i++ {
		switch data[i] {
		case '{', '[':
			if depth++; depth > room {
				return start, 0, false
			}
		case '}', ']':
			if depth--; depth == 0 {
				return start, i + 1, true
			}
		case '"':
			// Most of a FHIR value's bytes are in its strings: passed
			// over eight at a time up to a quote or a backslash (or
			// anything else plain stops at, which the loop below reads).
			for i++; i+8 <= stop && plain(binary.LittleEndian.Uint64(data[i:])); i += 8 {
			}
			for ; i < stop && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		}
	}
	return start, 0, false
}

// Object reads an object, calling member with each name and s at its
// value; member must read the value. In strict mode a name with an escape
// or beyond ASCII is refused.
func (s *Scanner) Object(member func(name string) bool) bool {
	return s.container('{', '}', func() bool {
		name, ok := s.name()
		return ok && member(name)
	})
}

// Array reads an array, calling elem with s at each element; elem must
// read it.
func (s *Scanner) Array(elem func() bool) bool {
	return s.container('[', ']', elem)
}

// container reads an object or an array whose items item reads, one
// after another between commas.
func (s *Scanner) container(open, close byte, item func() bool) bool {
	if !s.Consume(open) {
		return false
	}
	if s.depth++; s.depth > s.maxDepth() {
		return false
	}
	for first := true; ; first = false {
		if first && s.Consume(close) {
			s.depth--
			return true
		}
		if !item() {
			return false
		}
		if s.Consume(close) {
			s.depth--
			return true
		}
		if !s.Consume(',') {
			return false
		}
	}
}

// skipName reads past a member's name and the colon after it.
func (s *Scanner) skipName() bool {
	if _, ok := s.str(nil, false); !ok {
		return false
	}
	return s.Consume(':')
}

// name reads a member's name and the colon after it: a slice of the input
// when it is plain ASCII, else (not in strict mode) unescaped.
func (s *Scanner) name() (string, bool) {
	if s.Peek() != '"' {
		return "", false
	}
	data := s.Data
	start := s.Pos + 1
	end := start
	for end < len(data) && data[end] != '"' && data[end] != '\\' && data[end] >= 0x20 && data[end] < 0x80 {
		end++
	}
	name := unsafe.String(unsafe.SliceData(data[start:]), end-start)
	switch {
	case end < len(data) && data[end] == '"':
		s.Pos = end + 1
	case s.Strict:
		return "", false
	default:
		b, ok := s.String(nil)
		if !ok {
			return "", false
		}
		name = string(b)
	}
	return name, s.Consume(':')
}
