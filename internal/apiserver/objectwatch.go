package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Object watches: an in-process client's watch of a busy resource receives copies of the
// watch cache's objects instead of their encodings. Every pod change reached the
// controllers' shared informer and the garbage collector's metadata informer as protobuf
// that the server encoded, framed and copied through the in-process pipe, and the client
// copied again and decoded into a fresh object (6.5 µs and 88 allocations a pod); a deep
// copy is a third of that and allocates no strings. The request still goes through the
// whole handler (filters, authorization, options, the watch's start and errors); only the
// events take the short way, and only for a request that came through
// InProcessTransport and names a sink registered in this process.

// objectWatchHeader carries the sink's token on the request, and "objects" on the
// response when the handler took the sink.
const objectWatchHeader = "X-Berth-Object-Watch"

// objectSink receives one watch's events; the handler closes ch when it returns.
type objectSink struct {
	ch                chan watch.Event
	dropManagedFields bool
}

var (
	objectSinks    sync.Map // token → *objectSink
	objectSinkNext atomic.Uint64
)

// takeNamed returns, once, what a request names by its objectWatchHeader token in reg
// — only when the request came through InProcessTransport.
func takeNamed(r *http.Request, reg *sync.Map) (any, bool) {
	token := r.Header.Get(objectWatchHeader)
	if token == "" || r.Context().Value(inProcessUserKey) == nil {
		return nil, false
	}
	return reg.LoadAndDelete(token)
}

// takeObjectSink returns the sink an in-process watch request names, once.
func takeObjectSink(r *http.Request) *objectSink {
	if v, ok := takeNamed(r, &objectSinks); ok {
		return v.(*objectSink)
	}
	return nil
}

// passObjects sends the watch's events to sink until the watch, the request or the
// timeout ends. The objects are the watch cache's, shared with every other watcher:
// each one sent is a private copy.
func passObjects(ctx context.Context, wi watch.Interface, sink *objectSink, partial bool, timeout time.Duration) {
	defer close(sink.ch)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		ev, ok := nextEvent(ctx, timer, wi)
		if !ok {
			return
		}
		obj := ev.Object
		switch {
		case ev.Type == watch.Error:
			obj = obj.DeepCopyObject()
		case partial:
			p, err := partialCopy(obj, sink.dropManagedFields)
			if err != nil {
				return
			}
			obj = p
		default:
			obj = copyObject(obj, sink.dropManagedFields)
		}
		if ev.Type != watch.Error {
			// As a client's decoder leaves typed objects.
			obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		}
		select {
		case sink.ch <- watch.Event{Type: ev.Type, Object: obj}:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

// copyObject deep-copies obj, without its managedFields when drop is set (they are then
// not copied at all).
func copyObject(obj runtime.Object, drop bool) runtime.Object {
	if m, err := meta.Accessor(obj); err != nil || !drop || m.GetManagedFields() == nil {
		return obj.DeepCopyObject()
	}
	s, ok := shallowCopy(obj)
	if !ok {
		return obj.DeepCopyObject()
	}
	if m, err := meta.Accessor(s); err == nil {
		m.SetManagedFields(nil)
	}
	return s.DeepCopyObject()
}

// objectExchange carries an in-process create's object to the handler, and the created
// object back: the client neither encodes the one nor decodes the other, and the
// handler neither decodes nor encodes. Everything else about the request — filters,
// authorization, admission, defaults, validation, the field managers — is as for a
// body, and errors come back as Status like any other.
type objectExchange struct {
	in  runtime.Object // the client's own copy
	out runtime.Object
}

var objectExchanges sync.Map // token → *objectExchange

// takeObjectExchange returns the exchange an in-process create names, once, when its
// object has into's type.
func takeObjectExchange(r *http.Request, verb string, into runtime.Object) *objectExchange {
	if verb != "create" {
		return nil
	}
	v, ok := takeNamed(r, &objectExchanges)
	if !ok {
		return nil
	}
	if ex := v.(*objectExchange); reflect.TypeOf(ex.in) == reflect.TypeOf(into) {
		return ex
	}
	return nil
}

// give answers with obj, the handler's own (so not copied), without a kind as a
// client's decoder leaves it.
func (ex *objectExchange) give(w http.ResponseWriter, code int, obj runtime.Object) {
	obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	ex.out = obj
	w.Header().Set(objectWatchHeader, "objects")
	w.WriteHeader(code)
}

// errNotExchanged means the server answered an object create the ordinary way (a 429,
// say): the caller then makes the request as a client-go client would, with its retries.
var errNotExchanged = errors.New("in-process create not answered with an object")

// create creates obj (which it hands over) in the collection at path, throttled by rl.
func (c *objectWatchClient) create(ctx context.Context, rl flowcontrol.RateLimiter, path string, obj runtime.Object, opts metav1.CreateOptions) (runtime.Object, error) {
	if rl != nil {
		if err := rl.Wait(ctx); err != nil {
			return nil, err
		}
	}
	ex := &objectExchange{in: obj}
	resp, done, err := c.do(ctx, http.MethodPost, path, &opts, mediaJSON, &objectExchanges, ex)
	defer done()
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, errNotExchanged
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, statusError(resp)
	}
	if resp.Header.Get(objectWatchHeader) != "objects" || ex.out == nil {
		return nil, errNotExchanged
	}
	return ex.out, nil
}

// objectWatcher is the client's end of an object watch.
type objectWatcher struct {
	ch   chan watch.Event
	body io.Closer
	once sync.Once
}

func (w *objectWatcher) ResultChan() <-chan watch.Event { return w.ch }

// Stop ends the request; the handler returns and closes the channel.
func (w *objectWatcher) Stop() { w.once.Do(func() { _ = w.body.Close() }) }

// objectWatchClient makes object watches and creates through an in-process transport.
type objectWatchClient struct {
	http              *http.Client
	host              string
	dropManagedFields bool
}

// watchOr is watch, or the ordinary watch (ordinary) when the server answered with a
// stream.
func (c *objectWatchClient) watchOr(ctx context.Context, path string, opts metav1.ListOptions, accept string,
	ordinary func(context.Context, metav1.ListOptions) (watch.Interface, error)) (watch.Interface, error) {
	w, err := c.watch(ctx, path, opts, accept)
	if w == nil && err == nil {
		return ordinary(ctx, opts)
	}
	return w, err
}

// watch starts an object watch of the resource at path (with the list options) and
// returns it, or nil, nil when the server answered with an ordinary stream (the caller
// then watches the ordinary way). accept asks for PartialObjectMetadata when set.
func (c *objectWatchClient) watch(ctx context.Context, path string, opts metav1.ListOptions, accept string) (watch.Interface, error) {
	opts.Watch = true
	if accept == "" {
		accept = mediaJSON
	}
	sink := &objectSink{ch: make(chan watch.Event, 64), dropManagedFields: c.dropManagedFields}
	resp, done, err := c.do(ctx, http.MethodGet, path, &opts, accept, &objectSinks, sink)
	defer done()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	if resp.Header.Get(objectWatchHeader) != "objects" {
		_ = resp.Body.Close()
		return nil, nil
	}
	return &objectWatcher{ch: sink.ch, body: resp.Body}, nil
}

// do makes an in-process request to path with opts as its query and v registered in
// reg under the token it names; done drops v when the handler did not take it.
func (c *objectWatchClient) do(ctx context.Context, method, path string, opts runtime.Object, accept string, reg *sync.Map, v any) (resp *http.Response, done func(), err error) {
	query, err := metav1.ParameterCodec.EncodeParameters(opts, metav1.SchemeGroupVersion)
	if err != nil {
		return nil, func() {}, err
	}
	url := strings.TrimSuffix(c.host, "/") + path
	if len(query) > 0 {
		url += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, func() {}, err
	}
	req.Header.Set("Accept", accept)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", mediaProtobuf) // what a typed client sends
	}
	token := strconv.FormatUint(objectSinkNext.Add(1), 10)
	req.Header.Set(objectWatchHeader, token)
	reg.Store(token, v)
	resp, err = c.http.Do(req)
	return resp, func() { reg.Delete(token) }, err
}

// statusError turns an error response into the error a client-go request returns.
func statusError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		return &apierrors.StatusError{ErrStatus: st}
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, http.MethodGet, schema.GroupResource{}, "", strings.TrimSpace(string(data)), 0, true)
}

// ObjectWatches wraps clients made from cfg, whose transport must be InProcessTransport,
// so that their watches of pods and leases and every metadata watch are object watches,
// and their pod creates object creates (objectExchange). Nothing else about the clients
// changes. Watched objects arrive without managedFields: the controllers' informers drop
// them anyway.
func ObjectWatches(cfg *rest.Config, client kubernetes.Interface, md metadata.Interface) (kubernetes.Interface, metadata.Interface, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	c := &objectWatchClient{http: hc, host: cfg.Host, dropManagedFields: true}
	return objectWatchClientset{Interface: client, c: c}, objectWatchMetadata{Interface: md, c: c}, nil
}

type objectWatchClientset struct {
	kubernetes.Interface
	c *objectWatchClient
}

func (cs objectWatchClientset) CoreV1() corev1client.CoreV1Interface {
	return objectWatchCoreV1{CoreV1Interface: cs.Interface.CoreV1(), c: cs.c}
}

func (cs objectWatchClientset) CoordinationV1() coordinationv1client.CoordinationV1Interface {
	return objectWatchCoordinationV1{CoordinationV1Interface: cs.Interface.CoordinationV1(), c: cs.c}
}

type objectWatchCoreV1 struct {
	corev1client.CoreV1Interface
	c *objectWatchClient
}

func (v objectWatchCoreV1) Pods(ns string) corev1client.PodInterface {
	var rl flowcontrol.RateLimiter
	if rc := v.RESTClient(); rc != nil {
		rl = rc.GetRateLimiter()
	}
	return objectWatchPods{PodInterface: v.CoreV1Interface.Pods(ns), c: v.c, ns: ns, rl: rl}
}

type objectWatchPods struct {
	corev1client.PodInterface
	c  *objectWatchClient
	ns string
	rl flowcontrol.RateLimiter
}

// Create is an object create: the ReplicaSet controller's pods are most of what the
// controllers write.
func (p objectWatchPods) Create(ctx context.Context, pod *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error) {
	out, err := p.c.create(ctx, p.rl, resourcePath("", "v1", p.ns, "pods"), pod.DeepCopy(), opts)
	if errors.Is(err, errNotExchanged) {
		return p.PodInterface.Create(ctx, pod, opts)
	}
	if err != nil {
		return nil, err
	}
	created, ok := out.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("in-process create of a pod answered with %T", out)
	}
	return created, nil
}

func (p objectWatchPods) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return p.c.watchOr(ctx, resourcePath("", "v1", p.ns, "pods"), opts, "", p.PodInterface.Watch)
}

type objectWatchCoordinationV1 struct {
	coordinationv1client.CoordinationV1Interface
	c *objectWatchClient
}

func (v objectWatchCoordinationV1) Leases(ns string) coordinationv1client.LeaseInterface {
	return objectWatchLeases{LeaseInterface: v.CoordinationV1Interface.Leases(ns), c: v.c, ns: ns}
}

type objectWatchLeases struct {
	coordinationv1client.LeaseInterface
	c  *objectWatchClient
	ns string
}

func (l objectWatchLeases) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return l.c.watchOr(ctx, resourcePath("coordination.k8s.io", "v1", l.ns, "leases"), opts, "", l.LeaseInterface.Watch)
}

type objectWatchMetadata struct {
	metadata.Interface
	c *objectWatchClient
}

func (m objectWatchMetadata) Resource(gvr schema.GroupVersionResource) metadata.Getter {
	return objectWatchMetadataGetter{Getter: m.Interface.Resource(gvr), c: m.c, gvr: gvr}
}

// objectWatchMetadataGetter watches the resource cluster-wide, and through Namespace in
// one namespace.
type objectWatchMetadataGetter struct {
	metadata.Getter
	c   *objectWatchClient
	gvr schema.GroupVersionResource
}

func (g objectWatchMetadataGetter) Namespace(ns string) metadata.ResourceInterface {
	return objectWatchMetadataResource{ResourceInterface: g.Getter.Namespace(ns), c: g.c, gvr: g.gvr, ns: ns}
}

func (g objectWatchMetadataGetter) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return watchMetadata(ctx, g.c, g.gvr, "", opts, g.Getter)
}

type objectWatchMetadataResource struct {
	metadata.ResourceInterface
	c   *objectWatchClient
	gvr schema.GroupVersionResource
	ns  string
}

func (r objectWatchMetadataResource) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return watchMetadata(ctx, r.c, r.gvr, r.ns, opts, r.ResourceInterface)
}

func watchMetadata(ctx context.Context, c *objectWatchClient, gvr schema.GroupVersionResource, ns string, opts metav1.ListOptions, fallback metadata.ResourceInterface) (watch.Interface, error) {
	return c.watchOr(ctx, resourcePath(gvr.Group, gvr.Version, ns, gvr.Resource), opts,
		mediaJSON+";as=PartialObjectMetadata;g=meta.k8s.io;v=v1", fallback.Watch)
}

// resourcePath is the collection's URL path.
func resourcePath(group, version, ns, resource string) string {
	p := "/apis/" + group + "/" + version
	if group == "" {
		p = "/api/" + version
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	return p + "/" + resource
}
