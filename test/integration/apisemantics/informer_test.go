package apisemantics

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/berth/berth/test/integration/framework"
)

const (
	informerWriters       = 20
	informerObjsPerWriter = 10
)

// testInformerWatchList runs the informer check with client-go's default start, a
// watch-list stream (sendInitialEvents=true), and checks the informer never fell back to
// a plain list.
func testInformerWatchList(t *testing.T, c *framework.Cluster, ops int) {
	reqs := runInformerCheck(t, c, false, ops)
	if reqs.watchList == 0 {
		t.Errorf("informer made no watch-list request (sendInitialEvents=true); requests: %v", reqs.seen)
	}
	if reqs.lists != 0 {
		t.Errorf("informer fell back to %d plain list request(s): watch-list not served; requests: %v", reqs.lists, reqs.seen)
	}
}

// testInformerListWatch runs the informer check on the list+watch path client-go takes
// when a server cannot stream initial events.
func testInformerListWatch(t *testing.T, c *framework.Cluster, ops int) {
	reqs := runInformerCheck(t, c, true, ops)
	if reqs.lists == 0 || reqs.watchList != 0 {
		t.Errorf("want list+watch, got %d lists and %d watch-list requests", reqs.lists, reqs.watchList)
	}
}

// informerRequests counts what the informer asked the server for.
type informerRequests struct {
	mu        sync.Mutex
	watchList int
	lists     int
	seen      []string
}

func (r *informerRequests) record(req *http.Request) {
	if !strings.HasSuffix(req.URL.Path, "/configmaps") {
		return
	}
	q := req.URL.Query()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case q.Get("watch") == "true" && q.Get("sendInitialEvents") == "true":
		r.watchList++
	case q.Get("watch") != "true":
		r.lists++
	}
	if len(r.seen) < 20 {
		r.seen = append(r.seen, req.URL.RawQuery)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// noWatchList makes client-go's reflector take the list+watch path.
type noWatchList struct{ *cache.ListWatch }

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

// objectLog is what the informer saw of one object.
type objectLog struct {
	adds, updates, deletes int
	revisions              []int64
}

// writeLog is what the writers did to one object.
type writeLog struct{ creates, updates, deletes int }

// runInformerCheck runs 20 writers doing ops (10 000 in the full suite) creates/updates/deletes of ConfigMaps while a
// SharedInformer watches, then checks the informer's cache equals a fresh list, events per
// object came in resourceVersion order, and the informer saw exactly one event per write.
func runInformerCheck(t *testing.T, c *framework.Cluster, listWatch bool, ops int) *informerRequests {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t, c.Client)
	reqs := &informerRequests{}
	cfg := rest.CopyConfig(c.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			reqs.record(r)
			return rt.RoundTrip(r)
		})
	})
	informerClient := kubernetes.NewForConfigOrDie(cfg)

	var lw cache.ListerWatcher = cache.NewListWatchFromClient(informerClient.CoreV1().RESTClient(), "configmaps", ns, fields.Everything())
	if listWatch {
		lw = noWatchList{lw.(*cache.ListWatch)}
	}
	informer := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})

	var mu sync.Mutex
	seen := map[string]*objectLog{}
	var problems []string
	note := func(obj any, kind string) {
		cm, ok := obj.(*corev1.ConfigMap)
		if !ok {
			mu.Lock()
			problems = append(problems, fmt.Sprintf("%s event with %T (a relist happened)", kind, obj))
			mu.Unlock()
			return
		}
		rv, err := strconv.ParseInt(cm.ResourceVersion, 10, 64)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s: bad resourceVersion %q", kind, cm.Name, cm.ResourceVersion))
			return
		}
		l := seen[cm.Name]
		if l == nil {
			l = &objectLog{}
			seen[cm.Name] = l
		}
		if n := len(l.revisions); n > 0 && rv <= l.revisions[n-1] {
			problems = append(problems, fmt.Sprintf("%s %s: resourceVersion %d after %d", kind, cm.Name, rv, l.revisions[n-1]))
		}
		l.revisions = append(l.revisions, rv)
		switch kind {
		case "add":
			l.adds++
		case "update":
			l.updates++
		case "delete":
			l.deletes++
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { note(obj, "add") },
		UpdateFunc: func(_, obj any) { note(obj, "update") },
		DeleteFunc: func(obj any) { note(obj, "delete") },
	}); err != nil {
		t.Fatal(err)
	}
	informerDone := make(chan struct{})
	go func() {
		defer close(informerDone)
		informer.RunWithContext(ctx)
	}()
	defer func() { cancel(); <-informerDone }()
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("informer did not sync")
	}

	writes := runWriters(t, c.Client, ns, ops)

	fresh, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	want := map[string]string{}
	for _, cm := range fresh.Items {
		want[cm.Name] = cm.ResourceVersion
	}
	// The informer has caught up when it holds exactly the fresh list and has seen one
	// event per write.
	caughtUp := func() bool {
		items := informer.GetStore().List()
		if len(items) != len(want) {
			return false
		}
		for _, item := range items {
			cm := item.(*corev1.ConfigMap)
			if want[cm.Name] != cm.ResourceVersion {
				return false
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for name, w := range writes {
			l := seen[name]
			if l == nil || l.adds != w.creates || l.updates != w.updates || l.deletes != w.deletes {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(60 * time.Second)
	for !caughtUp() && time.Now().Before(deadline) {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems[:min(len(problems), 20)] {
		t.Error(p)
	}
	cached := map[string]string{}
	for _, item := range informer.GetStore().List() {
		cm := item.(*corev1.ConfigMap)
		cached[cm.Name] = cm.ResourceVersion
	}
	if diff := mapDiff(want, cached); diff != "" {
		t.Errorf("informer cache differs from a fresh list (name: list rv / cache rv):\n%s", diff)
	}
	var missed []string
	total := 0
	for name, w := range writes {
		total += w.creates + w.updates + w.deletes
		l := seen[name]
		if l == nil {
			l = &objectLog{}
		}
		if l.adds != w.creates || l.updates != w.updates || l.deletes != w.deletes {
			missed = append(missed, fmt.Sprintf("%s: writes c/u/d %d/%d/%d, events %d/%d/%d",
				name, w.creates, w.updates, w.deletes, l.adds, l.updates, l.deletes))
		}
	}
	sort.Strings(missed)
	for _, m := range missed[:min(len(missed), 20)] {
		t.Errorf("events do not match writes: %s", m)
	}
	if total != ops {
		t.Errorf("writers did %d writes, want %d", total, ops)
	}
	t.Logf("%d writes on %d objects, %d left; informer events match", total, len(writes), len(want))
	return reqs
}

// runWriters does ops writes from informerWriters goroutines. Each writer owns its objects,
// so the writes to one object are sequential and each gives exactly one watch event: an
// object cycles create → update → update → update → delete.
func runWriters(t *testing.T, client kubernetes.Interface, ns string, ops int) map[string]writeLog {
	t.Helper()
	ctx := context.Background()
	logs := make([]map[string]writeLog, informerWriters)
	errs := make(chan error, informerWriters)
	var wg sync.WaitGroup
	for w := range informerWriters {
		logs[w] = map[string]writeLog{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cms := client.CoreV1().ConfigMaps(ns)
			live := map[string]*corev1.ConfigMap{}
			steps := map[string]int{}
			for i := w; i < ops; i += informerWriters {
				name := fmt.Sprintf("cm-%02d-%d", w, (i/informerWriters)%informerObjsPerWriter)
				log := logs[w][name]
				step := steps[name]
				steps[name] = (step + 1) % 5
				var err error
				switch {
				case live[name] == nil:
					live[name], err = cms.Create(ctx, &corev1.ConfigMap{
						ObjectMeta: metav1.ObjectMeta{Name: name},
						Data:       map[string]string{"n": "0"},
					}, metav1.CreateOptions{})
					log.creates++
				case step < 4:
					cm := live[name].DeepCopy()
					cm.Data["n"] = strconv.Itoa(i)
					live[name], err = cms.Update(ctx, cm, metav1.UpdateOptions{})
					log.updates++
				default:
					err = cms.Delete(ctx, name, metav1.DeleteOptions{})
					live[name] = nil
					log.deletes++
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d op %d on %s: %w", w, i, name, err)
					return
				}
				logs[w][name] = log
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := map[string]writeLog{}
	for _, l := range logs {
		for name, w := range l {
			all[name] = w
		}
	}
	return all
}

func mapDiff(want, got map[string]string) string {
	var lines []string
	for k, v := range want {
		if got[k] != v {
			lines = append(lines, fmt.Sprintf("  %s: %q / %q", k, v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("  %s: missing / %q", k, v))
		}
	}
	sort.Strings(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("  ... %d more", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}
