package promapi

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON values the scanner skips over, so that
// a hostile or broken body cannot exhaust the stack. Prometheus answers nest
// at most about 7 levels deep (native histogram buckets).
const maxDepth = 128

// errTooDeep is returned for JSON nested deeper than maxDepth.
var errTooDeep = errors.New("JSON nested too deeply")

// scanner is a minimal, allocation-free JSON tokenizer over a complete
// response body. It validates what it reads (strings, numbers, literals and
// the structure of skipped values) and reports errors with byte offsets,
// never with body content, so that its errors cannot leak data.
type scanner struct {
	buf []byte
	pos int
	// str holds the unescaped form of the last string that contained escapes.
	str []byte
}

func (s *scanner) reset(buf []byte) {
	s.buf, s.pos, s.str = buf, 0, s.str[:0]
}

// syntaxErr describes a syntax error at the current position.
func (s *scanner) syntaxErr(what string) error {
	if s.pos >= len(s.buf) {
		return fmt.Errorf("unexpected end of JSON input, expected %s", what)
	}
	return fmt.Errorf("invalid JSON at offset %d: expected %s", s.pos, what)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

// consume skips white space and then c, or fails.
func (s *scanner) consume(c byte) error {
	if s.peek() != c {
		return s.syntaxErr(fmt.Sprintf("%q", c))
	}
	s.pos++
	return nil
}

// more is called inside an object or array after its opening bracket or
// after an element. It consumes a separating comma and reports whether
// another element follows, or consumes the closing bracket and reports false.
func (s *scanner) more(closing byte, first bool) (bool, error) {
	switch c := s.peek(); {
	case c == closing:
		s.pos++
		return false, nil
	case first:
		return true, nil
	case c == ',':
		s.pos++
		return true, nil
	default:
		return false, s.syntaxErr(fmt.Sprintf("',' or %q", closing))
	}
}

// key reads an object key and the colon after it. The result is only valid
// until the next string is read.
func (s *scanner) key() ([]byte, error) {
	k, err := s.string()
	if err != nil {
		return nil, err
	}
	return k, s.consume(':')
}

// string reads a JSON string. The result aliases the body, or s.str when the
// string contains escapes; it is only valid until the next call.
func (s *scanner) string() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.syntaxErr("string")
	}
	s.pos++
	start := s.pos
	for s.pos < len(s.buf) {
		switch c := s.buf[s.pos]; {
		case c == '"':
			s.pos++
			return s.buf[start : s.pos-1], nil
		case c == '\\':
			return s.unescape(start)
		case c < 0x20:
			return nil, s.syntaxErr("string character")
		default:
			s.pos++
		}
	}
	return nil, s.syntaxErr("'\"'")
}

// unescape continues string at the first backslash, writing the decoded
// string to s.str.
func (s *scanner) unescape(start int) ([]byte, error) {
	out := append(s.str[:0], s.buf[start:s.pos]...)
	for s.pos < len(s.buf) {
		c := s.buf[s.pos]
		switch {
		case c == '"':
			s.pos++
			s.str = out
			return out, nil
		case c < 0x20:
			return nil, s.syntaxErr("string character")
		case c != '\\':
			out = append(out, c)
			s.pos++
			continue
		}
		if s.pos+1 >= len(s.buf) {
			break
		}
		esc := s.buf[s.pos+1]
		s.pos += 2
		switch esc {
		case '"', '\\', '/':
			out = append(out, esc)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.syntaxErr("4 hex digits")
			}
			if utf16.IsSurrogate(r) {
				r = s.lowSurrogate(r)
			}
			out = utf8.AppendRune(out, r)
		default:
			s.pos--
			return nil, s.syntaxErr("escape character")
		}
	}
	return nil, s.syntaxErr("'\"'")
}

// lowSurrogate completes a UTF-16 surrogate pair started by hi, as
// encoding/json does: an unpaired surrogate becomes U+FFFD.
func (s *scanner) lowSurrogate(hi rune) rune {
	save := s.pos
	if s.pos+1 < len(s.buf) && s.buf[s.pos] == '\\' && s.buf[s.pos+1] == 'u' {
		s.pos += 2
		if lo, ok := s.hex4(); ok {
			if r := utf16.DecodeRune(hi, lo); r != utf8.RuneError {
				return r
			}
		}
	}
	s.pos = save
	return utf8.RuneError
}

// hex4 reads the four hex digits of a \u escape.
func (s *scanner) hex4() (rune, bool) {
	if s.pos+4 > len(s.buf) {
		return 0, false
	}
	var r rune
	for _, c := range s.buf[s.pos : s.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, true
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if s.pos < len(s.buf) && s.buf[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.buf) && s.buf[s.pos] == '0':
		s.pos++
	case s.digits() == 0:
		return nil, s.syntaxErr("number")
	}
	if s.pos < len(s.buf) && s.buf[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return nil, s.syntaxErr("digit")
		}
	}
	if s.pos < len(s.buf) && (s.buf[s.pos] == 'e' || s.buf[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.buf) && (s.buf[s.pos] == '+' || s.buf[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return nil, s.syntaxErr("digit")
		}
	}
	return s.buf[start:s.pos], nil
}

// digits consumes decimal digits and returns how many there were.
func (s *scanner) digits() int {
	start := s.pos
	for s.pos < len(s.buf) && '0' <= s.buf[s.pos] && s.buf[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// literal consumes the literal word (true, false or null).
func (s *scanner) literal(word string) error {
	s.skipSpace()
	if len(s.buf)-s.pos < len(word) || string(s.buf[s.pos:s.pos+len(word)]) != word {
		return s.syntaxErr(word)
	}
	s.pos += len(word)
	return nil
}

// null consumes a null literal if one comes next and reports whether it did.
func (s *scanner) null() bool {
	return s.peek() == 'n' && s.literal("null") == nil
}

// skip validates and skips over the next value; depth is the nesting level
// of that value.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	switch c := s.peek(); c {
	case '"':
		_, err := s.string()
		return err
	case '{', '[':
		return s.skipComposite(c, depth)
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		_, err := s.number()
		return err
	}
}

func (s *scanner) skipComposite(open byte, depth int) error {
	s.pos++
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	for first := true; ; first = false {
		more, err := s.more(closing, first)
		if err != nil || !more {
			return err
		}
		if open == '{' {
			if _, err := s.key(); err != nil {
				return err
			}
		}
		if err := s.skip(depth + 1); err != nil {
			return err
		}
	}
}

// end checks that only white space follows the top-level value.
func (s *scanner) end() error {
	if s.peek() != 0 || s.pos < len(s.buf) {
		return s.syntaxErr("end of input")
	}
	return nil
}

// parseMillis converts a valid JSON number of seconds to milliseconds.
// Plain decimals are converted exactly, so that 1700000000.123 becomes
// 1700000000123 and not ...122 through float rounding; digits past the
// millisecond are dropped, as Prometheus drops them.
func parseMillis(num []byte) (int64, bool) {
	neg := num[0] == '-'
	if neg {
		num = num[1:]
	}
	// maxSec keeps ms*1000+999 below math.MaxInt64.
	const maxSec = math.MaxInt64/1000 - 1
	var ms int64
	i := 0
	for ; i < len(num) && '0' <= num[i] && num[i] <= '9'; i++ {
		digit := int64(num[i] - '0')
		if ms > (maxSec-digit)/10 {
			return 0, false
		}
		ms = ms*10 + digit
	}
	ms *= 1000
	if i < len(num) && num[i] == '.' {
		i++
		for scale := int64(100); i < len(num) && '0' <= num[i] && num[i] <= '9'; i++ {
			ms += int64(num[i]-'0') * scale
			scale /= 10
		}
	}
	if i < len(num) { // an exponent: rare, go through float64
		f, err := strconv.ParseFloat(string(num), 64)
		f = math.Trunc(f * 1000)
		if err != nil || f >= math.MaxInt64 || f <= math.MinInt64 {
			return 0, false
		}
		ms = int64(f)
	}
	if neg {
		ms = -ms
	}
	return ms, true
}
