package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// objectMetaDoc holds the ObjectMeta field descriptions Kubernetes uses for
// the Name and Age columns.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// Descriptions Kubernetes writes out for template-based workloads.
const (
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
}

func ageColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}
}

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide marks a column as shown only by `kubectl get -o wide`.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}

func cells(values ...interface{}) metav1.TableRow {
	return metav1.TableRow{Cells: values}
}

// typed adapts a printer of one concrete type to Printer.Row.
func typed[T runtime.Object](row func(obj T, now time.Time) metav1.TableRow) func(runtime.Object, time.Time) (metav1.TableRow, error) {
	return func(obj runtime.Object, now time.Time) (metav1.TableRow, error) {
		t, ok := obj.(T)
		if !ok {
			var want T
			return metav1.TableRow{}, fmt.Errorf("cannot print %T, want %T", obj, want)
		}
		return row(t, now), nil
	}
}

// age is Kubernetes' translateTimestampSince: "<unknown>" for a zero time,
// otherwise duration.HumanDuration of the time elapsed until now.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func microAge(t metav1.MicroTime, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// layoutContainerCells joins container names and images with commas.
func layoutContainerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// listWithMore joins the first shown items and says how many of count were
// left out, or "<unset>" when there are none.
func listWithMore(shown []string, count int) string {
	ret := strings.Join(shown, ",")
	if count > len(shown) {
		return fmt.Sprintf("%s + %d more...", ret, count-len(shown))
	}
	if ret == "" {
		return "<unset>"
	}
	return ret
}

func int32Value(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
