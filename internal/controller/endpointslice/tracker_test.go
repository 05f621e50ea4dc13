package endpointslice

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func trackedSlice(uid, rv string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), ResourceVersion: rv}}
}

func TestSliceTrackerStale(t *testing.T) {
	const svc = "default/web"
	tests := []struct {
		name   string
		wrote  []*discoveryv1.EndpointSlice
		delete []*discoveryv1.EndpointSlice
		cached []*discoveryv1.EndpointSlice
		want   bool
	}{
		{name: "nothing written", cached: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")}, want: false},
		{name: "cache holds the write", wrote: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")},
			cached: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")}, want: false},
		{name: "cache holds a later write by someone else", wrote: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")},
			cached: []*discoveryv1.EndpointSlice{trackedSlice("a", "9")}, want: false},
		{name: "cache holds an older version", wrote: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")},
			cached: []*discoveryv1.EndpointSlice{trackedSlice("a", "4")}, want: true},
		{name: "created slice not in cache yet", wrote: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")}, want: true},
		{name: "deleted slice still in cache", delete: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")},
			cached: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")}, want: true},
		{name: "deleted slice gone from cache", delete: []*discoveryv1.EndpointSlice{trackedSlice("a", "5")}, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newSliceTracker()
			for _, s := range tc.wrote {
				tr.wrote(svc, s)
			}
			for _, s := range tc.delete {
				tr.deleted(svc, s)
			}
			if got := tr.stale(svc, tc.cached); got != tc.want {
				t.Errorf("stale = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSliceTrackerObserve(t *testing.T) {
	const svc = "default/web"
	tr := newSliceTracker()
	tr.wrote(svc, trackedSlice("a", "5"))
	steps := []struct {
		name  string
		slice *discoveryv1.EndpointSlice
		gone  bool
		news  bool
	}{
		{"own write echoed", trackedSlice("a", "5"), false, false},
		{"someone else's edit", trackedSlice("a", "8"), false, true},
		{"unknown slice", trackedSlice("b", "3"), false, true},
		{"deleted by someone else", trackedSlice("a", "8"), true, true},
	}
	for _, s := range steps {
		if got := tr.observe(svc, s.slice, s.gone); got != s.news {
			t.Errorf("%s: news = %v, want %v", s.name, got, s.news)
		}
	}
	tr.deleted(svc, trackedSlice("c", "9"))
	if tr.observe(svc, trackedSlice("c", "9"), true) {
		t.Errorf("own delete echoed as news")
	}
	if len(tr.byService) != 0 {
		t.Errorf("tracker keeps %v after every slice went", tr.byService)
	}
}
