package config

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/alertmanager/matcher/compat"
	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// MatcherSyntax is how the matchers users type (API and UI filters,
// silences) are parsed and which label names alerts and silences may have,
// as Alertmanager's --enable-feature flags choose. The zero value is
// Alertmanager 0.35's default.
type MatcherSyntax int

const (
	// SyntaxFallback parses with the UTF-8 parser and falls back to the
	// classic one where only that accepts the input; label names may be
	// any UTF-8 string.
	SyntaxFallback MatcherSyntax = iota
	// SyntaxClassic is --enable-feature=classic-mode: the parser of
	// Alertmanager <= 0.26, and label names as Prometheus' legacy
	// validation allows ([a-zA-Z_][a-zA-Z0-9_]*).
	SyntaxClassic
	// SyntaxUTF8 is --enable-feature=utf8-strict-mode: the UTF-8 parser
	// alone.
	SyntaxUTF8
)

// ParseMatcherSyntax turns the features of --enable-feature into a syntax.
func ParseMatcherSyntax(features []string) (MatcherSyntax, error) {
	s := SyntaxFallback
	for _, f := range features {
		switch f {
		case "classic-mode":
			s = SyntaxClassic
		case "utf8-strict-mode":
			if s == SyntaxClassic {
				return s, fmt.Errorf("classic-mode and utf8-strict-mode exclude each other")
			}
			s = SyntaxUTF8
		}
	}
	return s, nil
}

var (
	discard            = slog.New(slog.DiscardHandler)
	classicMatchers    = compat.ClassicMatchersParser(discard)
	utf8Matchers       = compat.UTF8MatchersParser(discard)
	classicMatcher     = compat.ClassicMatcherParser(discard)
	utf8Matcher        = compat.UTF8MatcherParser(discard)
	fallbackMatcherOne = compat.FallbackMatcherParser(discard)
)

// ParseMatchers parses a list of matchers ({a="b", c=~"d"} or a="b",c="d").
func (s MatcherSyntax) ParseMatchers(input string) (labels.Matchers, error) {
	switch s {
	case SyntaxClassic:
		return classicMatchers(input, "web")
	case SyntaxUTF8:
		return utf8Matchers(input, "web")
	}
	return parseMatchers(input, "web")
}

// ParseMatcher parses one matcher, as an API filter parameter holds.
func (s MatcherSyntax) ParseMatcher(input string) (*labels.Matcher, error) {
	switch s {
	case SyntaxClassic:
		return classicMatcher(input, "api")
	case SyntaxUTF8:
		return utf8Matcher(input, "api")
	}
	return fallbackMatcherOne(input, "api")
}

// ValidLabelName reports whether an alert or a silence may use name.
func (s MatcherSyntax) ValidLabelName(name string) bool {
	if s == SyntaxClassic {
		return model.LegacyValidation.IsValidLabelName(name)
	}
	return model.UTF8Validation.IsValidLabelName(name)
}
