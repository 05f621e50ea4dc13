package printers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var clusterRolesGR = schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}

func TestDefaultTable(t *testing.T) {
	p, found := New().Printer(clusterRolesGR)
	if found {
		t.Fatalf("clusterroles has a printer; the test needs a resource without one")
	}
	got := make([]col, len(p.Columns))
	for i, c := range p.Columns {
		got[i] = col{c.Name, c.Type, c.Priority}
	}
	if want := []col{{"Name", "string", 0}, {"Created At", "date", 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
	if p.Columns[1].Description != objectMetaDoc["creationTimestamp"] {
		t.Errorf("Created At description = %q", p.Columns[1].Description)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{
		Name:              "admin",
		CreationTimestamp: metav1.NewTime(time.Date(2026, 4, 30, 8, 15, 0, 0, time.FixedZone("CEST", 2*3600))),
	}}
	assertCells(t, printRow(t, clusterRolesGR, role).Cells, []interface{}{"admin", "2026-04-30T06:15:00Z"})
}

func TestTableShape(t *testing.T) {
	objs := []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: objectMeta("a", time.Minute)},
		&corev1.ConfigMap{ObjectMeta: objectMeta("b", time.Hour)},
	}
	r := New()
	table, err := r.Table(core("configmaps"), objs, now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if table.APIVersion != "meta.k8s.io/v1" || table.Kind != "Table" {
		t.Errorf("type = %s %s, want meta.k8s.io/v1 Table", table.APIVersion, table.Kind)
	}
	if len(table.ColumnDefinitions) != 3 || len(table.Rows) != 2 {
		t.Fatalf("%d columns, %d rows; want 3 and 2", len(table.ColumnDefinitions), len(table.Rows))
	}
	if table.Rows[0].Cells[0] != "a" || table.Rows[1].Cells[0] != "b" {
		t.Errorf("rows out of input order: %v", table.Rows)
	}

	table, err = r.Table(core("configmaps"), objs, now, Options{NoHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	if table.ColumnDefinitions != nil || len(table.Rows) != 2 {
		t.Errorf("NoHeaders: %d columns, %d rows; want 0 and 2", len(table.ColumnDefinitions), len(table.Rows))
	}

	table, err = r.Table(core("configmaps"), nil, now, Options{})
	if err != nil || table.Rows == nil || len(table.Rows) != 0 {
		t.Errorf("empty list: rows %#v, err %v; want a non-nil empty slice", table.Rows, err)
	}
}

func TestIncludeObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "web", Namespace: "default", UID: "1234", ResourceVersion: "42", Labels: map[string]string{"app": "web"},
	}}
	podKind := corev1.SchemeGroupVersion.WithKind("Pod")

	t.Run("metadata by default", func(t *testing.T) {
		for _, policy := range []metav1.IncludeObjectPolicy{"", metav1.IncludeMetadata} {
			table, err := New().Table(podsGR, []runtime.Object{pod}, now, Options{IncludeObject: policy})
			if err != nil {
				t.Fatal(err)
			}
			partial, ok := table.Rows[0].Object.Object.(*metav1.PartialObjectMetadata)
			if !ok {
				t.Fatalf("policy %q: row object is %T, want *PartialObjectMetadata", policy, table.Rows[0].Object.Object)
			}
			if gvk := partial.GroupVersionKind(); gvk != metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata") {
				t.Errorf("policy %q: partial kind = %v", policy, gvk)
			}
			if partial.Name != "web" || partial.UID != "1234" || partial.ResourceVersion != "42" || partial.Labels["app"] != "web" {
				t.Errorf("policy %q: partial metadata = %+v", policy, partial.ObjectMeta)
			}
		}
	})

	t.Run("none", func(t *testing.T) {
		table, err := New().Table(podsGR, []runtime.Object{pod}, now, Options{IncludeObject: metav1.IncludeNone})
		if err != nil {
			t.Fatal(err)
		}
		if table.Rows[0].Object.Object != nil || table.Rows[0].Object.Raw != nil {
			t.Errorf("row object = %#v, want empty", table.Rows[0].Object)
		}
	})

	t.Run("object gets its kind on a copy", func(t *testing.T) {
		table, err := New().Table(podsGR, []runtime.Object{pod}, now, Options{IncludeObject: metav1.IncludeObject, Kind: podKind})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := table.Rows[0].Object.Object.(*corev1.Pod)
		if !ok || got.Name != "web" {
			t.Fatalf("row object = %#v, want the pod", table.Rows[0].Object.Object)
		}
		if got.GroupVersionKind() != podKind {
			t.Errorf("row object kind = %v, want %v", got.GroupVersionKind(), podKind)
		}
		if !pod.GroupVersionKind().Empty() {
			t.Errorf("the input pod was modified: kind %v", pod.GroupVersionKind())
		}
	})

	t.Run("object that has a kind is used as is", func(t *testing.T) {
		typedPod := pod.DeepCopy()
		typedPod.SetGroupVersionKind(podKind)
		table, err := New().Table(podsGR, []runtime.Object{typedPod}, now, Options{IncludeObject: metav1.IncludeObject})
		if err != nil {
			t.Fatal(err)
		}
		if table.Rows[0].Object.Object != typedPod {
			t.Errorf("row object is a copy; want the object itself")
		}
	})

	t.Run("unknown policy", func(t *testing.T) {
		_, err := New().Table(podsGR, []runtime.Object{pod}, now, Options{IncludeObject: "Everything"})
		if !errors.Is(err, ErrInvalidIncludeObject) {
			t.Errorf("err = %v, want ErrInvalidIncludeObject", err)
		}
	})

	t.Run("helper checks row count", func(t *testing.T) {
		table := &metav1.Table{Rows: make([]metav1.TableRow, 2)}
		if err := IncludeObjects(table, []runtime.Object{pod}, metav1.IncludeMetadata, podKind); err == nil {
			t.Errorf("IncludeObjects with 1 object for 2 rows: want an error")
		}
	})
}

func TestTableConcurrentUse(t *testing.T) {
	r := New()
	pod := &corev1.Pod{ObjectMeta: objectMeta("web", time.Minute)}
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func() {
			table, err := r.Table(podsGR, []runtime.Object{pod}, now, Options{IncludeObject: metav1.IncludeObject, Kind: corev1.SchemeGroupVersion.WithKind("Pod")})
			if err == nil {
				table.ColumnDefinitions[0].Name = "changed"
			}
			done <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if p, _ := r.Printer(podsGR); p.Columns[0].Name != "Name" {
		t.Errorf("editing a table changed the printer's columns")
	}
}

func TestTableErrors(t *testing.T) {
	t.Run("wrong type for the resource", func(t *testing.T) {
		_, err := New().Table(podsGR, []runtime.Object{&corev1.Service{}}, now, Options{})
		if err == nil {
			t.Errorf("printing a Service as a pod: want an error")
		}
	})
	t.Run("row with the wrong number of cells", func(t *testing.T) {
		r := New()
		r.Register(clusterRolesGR, Printer{
			Columns: []metav1.TableColumnDefinition{nameColumn(), ageColumn()},
			Row: func(runtime.Object, time.Time) (metav1.TableRow, error) {
				return cells("only-name"), nil
			},
		})
		if _, err := r.Table(clusterRolesGR, []runtime.Object{&rbacv1.ClusterRole{}}, now, Options{}); err == nil {
			t.Errorf("1 cell for 2 columns: want an error")
		}
	})
	t.Run("not an object with metadata", func(t *testing.T) {
		_, err := New().Table(clusterRolesGR, []runtime.Object{&metav1.Status{}}, now, Options{})
		if err == nil {
			t.Errorf("printing a Status with the default printer: want an error")
		}
	})
}

func TestAge(t *testing.T) {
	tests := []struct {
		created metav1.Time
		want    string
	}{
		{metav1.Time{}, "<unknown>"},
		{ago(-time.Second), "0s"},
		{ago(-time.Minute), "<invalid>"},
		{ago(119 * time.Second), "119s"},
		{ago(5*time.Minute + 12*time.Second), "5m12s"},
		{ago(179 * time.Minute), "179m"},
		{ago(7*time.Hour + 59*time.Minute), "7h59m"},
		{ago(47 * time.Hour), "47h"},
		{ago(3 * 24 * time.Hour), "3d"},
		{ago(3*24*time.Hour + 4*time.Hour), "3d4h"},
		{ago(10 * 24 * time.Hour), "10d"},
		{ago(3 * 365 * 24 * time.Hour), "3y"},
	}
	for _, tc := range tests {
		if got := age(tc.created, now); got != tc.want {
			t.Errorf("age(%v) = %q, want %q", now.Sub(tc.created.Time), got, tc.want)
		}
	}
}

// TestTableJSON checks the wire shape kubectl reads: cells as JSON values and
// each row's object with its kind.
func TestTableJSON(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: objectMeta("settings", time.Minute), Data: map[string]string{"a": "1"}}
	table, err := New().Table(core("configmaps"), []runtime.Object{cm}, now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(table)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"kind":"Table","apiVersion":"meta.k8s.io/v1"`,
		`{"name":"Data","type":"string","format":"","description":`,
		`"cells":["settings",1,"60s"]`,
		`"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"settings"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s:\n%s", want, data)
		}
	}
}
