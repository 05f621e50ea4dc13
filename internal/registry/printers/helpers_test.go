package printers

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// now is the fixed clock of every test.
var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func microAgo(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(now.Add(-d)) }

func objectMeta(name string, created time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(created)}
}

func ptr[T any](v T) *T { return &v }

// col is what a header test checks of a column definition.
type col struct {
	Name     string
	Type     string
	Priority int32
}

// assertColumns checks names, types and priorities, that every column is
// described, and that the Name column is formatted as a name.
func assertColumns(t *testing.T, gr schema.GroupResource, want []col) {
	t.Helper()
	p, found := New().Printer(gr)
	if !found {
		t.Fatalf("no printer for %s", gr)
	}
	got := make([]col, len(p.Columns))
	for i, c := range p.Columns {
		got[i] = col{c.Name, c.Type, c.Priority}
		if c.Description == "" {
			t.Errorf("%s column %q has no description", gr, c.Name)
		}
		if c.Name == "Name" && c.Format != "name" {
			t.Errorf("%s Name column format = %q, want name", gr, c.Format)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s columns:\n got %v\nwant %v", gr, got, want)
	}
}

// printRow prints one object through the registry and returns its row.
func printRow(t *testing.T, gr schema.GroupResource, obj runtime.Object) metav1.TableRow {
	t.Helper()
	table, err := New().Table(gr, []runtime.Object{obj}, now, Options{IncludeObject: metav1.IncludeNone})
	if err != nil {
		t.Fatalf("Table(%s): %v", gr, err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("Table(%s): %d rows, want 1", gr, len(table.Rows))
	}
	return table.Rows[0]
}

func assertCells(t *testing.T, got, want []interface{}) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cells:\n got %#v\nwant %#v", got, want)
	}
}
