package printers

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrInvalidIncludeObject is returned (wrapped) for an includeObject value
// other than None, Metadata, Object or empty; the API edge answers 400.
var ErrInvalidIncludeObject = errors.New("unrecognized includeObject value")

// Printer prints the objects of one resource.
type Printer struct {
	// Columns are the table's column definitions, wide ones (Priority 1)
	// included.
	Columns []metav1.TableColumnDefinition
	// Row returns one row per object: a cell for every column, and row
	// conditions where Kubernetes sets them (completed pods). Row leaves
	// Object empty; Table fills it according to the includeObject policy.
	Row func(obj runtime.Object, now time.Time) (metav1.TableRow, error)
}

// Options says how to build a Table. The zero value matches the Kubernetes
// defaults: headers, and each row's Object set to PartialObjectMetadata.
type Options struct {
	// NoHeaders omits the column definitions (metav1.TableOptions.NoHeaders).
	NoHeaders bool
	// IncludeObject is None, Metadata (default when empty) or Object.
	IncludeObject metav1.IncludeObjectPolicy
	// Kind is stamped on copies of full objects (IncludeObject=Object) whose
	// TypeMeta is empty, as objects read from storage often are.
	Kind schema.GroupVersionKind
}

// Registry maps resources to printers. It is a value: build it with New,
// add to it with Register before serving, then share it read-only.
type Registry struct {
	printers map[schema.GroupResource]Printer
	fallback Printer
}

// New returns a registry holding the printers of every built-in resource
// berth serves, with DefaultPrinter for anything else.
func New() *Registry {
	r := &Registry{printers: map[schema.GroupResource]Printer{}, fallback: DefaultPrinter()}
	registerCore(r)
	registerApps(r)
	registerEvents(r)
	registerDiscovery(r)
	registerCoordination(r)
	registerScheduling(r)
	registerPolicy(r)
	return r
}

// Register sets the printer of a resource, replacing any earlier one. It is
// not safe to call concurrently with Table or Printer.
func (r *Registry) Register(gr schema.GroupResource, p Printer) {
	r.printers[gr] = p
}

// Printer returns the printer of a resource, or DefaultPrinter when none is
// registered; found says which.
func (r *Registry) Printer(gr schema.GroupResource) (p Printer, found bool) {
	p, found = r.printers[gr]
	if !found {
		return r.fallback, false
	}
	return p, true
}

// Table prints objs (all of resource gr) as a Table, ages measured at now.
// The caller sets ResourceVersion, Continue and RemainingItemCount.
func (r *Registry) Table(gr schema.GroupResource, objs []runtime.Object, now time.Time, opts Options) (*metav1.Table, error) {
	if err := checkIncludeObject(opts.IncludeObject); err != nil {
		return nil, err
	}
	p, _ := r.Printer(gr)
	table := &metav1.Table{
		TypeMeta: metav1.TypeMeta{APIVersion: metav1.SchemeGroupVersion.String(), Kind: "Table"},
		Rows:     make([]metav1.TableRow, 0, len(objs)),
	}
	if !opts.NoHeaders {
		// A copy, so that callers may edit the table without touching p.
		table.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), p.Columns...)
	}
	for i, obj := range objs {
		row, err := p.Row(obj, now)
		if err != nil {
			return nil, fmt.Errorf("printing %s item %d: %w", gr, i, err)
		}
		if len(row.Cells) != len(p.Columns) {
			return nil, fmt.Errorf("printing %s item %d: %d cells for %d columns", gr, i, len(row.Cells), len(p.Columns))
		}
		table.Rows = append(table.Rows, row)
	}
	if err := IncludeObjects(table, objs, opts.IncludeObject, opts.Kind); err != nil {
		return nil, err
	}
	return table, nil
}

// IncludeObjects sets table.Rows[i].Object from objs[i] per policy, as
// kube-apiserver does: None leaves it empty, Metadata (or "") sets a
// meta.k8s.io/v1 PartialObjectMetadata, Object sets a copy of the object
// carrying kind when its own TypeMeta is empty. objs are not modified.
func IncludeObjects(table *metav1.Table, objs []runtime.Object, policy metav1.IncludeObjectPolicy, kind schema.GroupVersionKind) error {
	if err := checkIncludeObject(policy); err != nil {
		return err
	}
	if len(objs) != len(table.Rows) {
		return fmt.Errorf("%d objects for %d table rows", len(objs), len(table.Rows))
	}
	for i, obj := range objs {
		var included runtime.Object
		switch policy {
		case metav1.IncludeNone:
		case metav1.IncludeMetadata, "":
			m, err := meta.Accessor(obj)
			if err != nil {
				return fmt.Errorf("table row %d: %w", i, err)
			}
			partial := meta.AsPartialObjectMetadata(m)
			partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
			included = partial
		case metav1.IncludeObject:
			included = obj
			if obj.GetObjectKind().GroupVersionKind().Empty() && !kind.Empty() {
				// Copy: the object may be shared with a cache or other readers.
				included = obj.DeepCopyObject()
				included.GetObjectKind().SetGroupVersionKind(kind)
			}
		}
		table.Rows[i].Object = runtime.RawExtension{Object: included}
	}
	return nil
}

func checkIncludeObject(policy metav1.IncludeObjectPolicy) error {
	switch policy {
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject, "":
		return nil
	}
	return fmt.Errorf("%w: %q", ErrInvalidIncludeObject, policy)
}

// DefaultPrinter is the table Kubernetes gives a resource without printer
// (rest.NewDefaultTableConvertor): Name and Created At, an RFC 3339 UTC
// timestamp that kubectl shows as a "CREATED AT" column.
func DefaultPrinter() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
		},
		Row: func(obj runtime.Object, _ time.Time) (metav1.TableRow, error) {
			m, err := meta.Accessor(obj)
			if err != nil {
				return metav1.TableRow{}, err
			}
			return cells(m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)), nil
		},
	}
}
