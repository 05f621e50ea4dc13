package validation

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// want describes one expected error: its path, its type and (optionally) a
// part of its detail message.
type want struct {
	field  string
	typ    field.ErrorType
	detail string
}

func req(path string) want                        { return want{path, field.ErrorTypeRequired, ""} }
func inv(path, detail string) want                { return want{path, field.ErrorTypeInvalid, detail} }
func unsup(path string) want                      { return want{path, field.ErrorTypeNotSupported, ""} }
func forb(path, detail string) want               { return want{path, field.ErrorTypeForbidden, detail} }
func dup(path string) want                        { return want{path, field.ErrorTypeDuplicate, ""} }
func notFound(path string) want                   { return want{path, field.ErrorTypeNotFound, ""} }
func tooLong(path string) want                    { return want{path, field.ErrorTypeTooLong, ""} }
func tooMany(path string) want                    { return want{path, field.ErrorTypeTooMany, ""} }
func reqd(path, detail string) want               { return want{path, field.ErrorTypeRequired, detail} }
func withDetail(w want, detail string) want       { w.detail = detail; return w }
func errs(ws ...want) []want                      { return ws }
func none() []want                                { return nil }
func describe(errs field.ErrorList) string        { return errs.ToAggregate().Error() }
func keyOf(path string, t field.ErrorType) string { return path + " " + string(t) }

// expectErrors asserts that got holds exactly the wanted errors (as a
// multiset of path and type), and that each wanted detail appears.
func expectErrors(t *testing.T, got field.ErrorList, wants []want) {
	t.Helper()
	if len(wants) == 0 {
		if len(got) != 0 {
			t.Fatalf("expected no errors, got %d: %s", len(got), describe(got))
		}
		return
	}
	var gotKeys, wantKeys []string
	for _, e := range got {
		gotKeys = append(gotKeys, keyOf(e.Field, e.Type))
	}
	for _, w := range wants {
		wantKeys = append(wantKeys, keyOf(w.field, w.typ))
	}
	sort.Strings(gotKeys)
	sort.Strings(wantKeys)
	if strings.Join(gotKeys, "\n") != strings.Join(wantKeys, "\n") {
		t.Fatalf("errors differ\n got: %q\nwant: %q\nfull: %v", gotKeys, wantKeys, got)
	}
	for _, w := range wants {
		if w.detail == "" {
			continue
		}
		found := false
		for _, e := range got {
			if e.Field == w.field && e.Type == w.typ && strings.Contains(e.Error(), w.detail) {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s error at %s contains %q; got %v", w.typ, w.field, w.detail, got)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// expectMessage asserts the exact text kubectl would show for one error.
func expectMessage(t *testing.T, got field.ErrorList, text string) {
	t.Helper()
	for _, e := range got {
		if e.Error() == text {
			return
		}
	}
	t.Fatalf("no error reads %q; got:\n%s", text, fmt.Sprint(got))
}
