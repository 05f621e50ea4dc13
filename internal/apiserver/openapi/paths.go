package openapi

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// subresource says how a subresource is served: with which verbs and, when
// it is not the parent's own kind (status, ...), which kind it carries.
type subresource struct {
	verbs []string                // of get, update, patch, create
	kind  schema.GroupVersionKind // zero: the parent's kind
	log   bool                    // GET returning text
	conn  bool                    // streaming (exec, attach, portforward, proxy)
}

func knownSubresource(name string) (subresource, bool) {
	rw := []string{"get", "update", "patch"}
	switch name {
	case "status", "ephemeralcontainers", "resize":
		return subresource{verbs: rw}, true
	case "finalize":
		return subresource{verbs: []string{"update"}}, true
	case "scale":
		return subresource{verbs: rw, kind: schema.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}}, true
	case "binding":
		return subresource{verbs: []string{"create"}, kind: schema.GroupVersionKind{Version: "v1", Kind: "Binding"}}, true
	case "eviction":
		return subresource{verbs: []string{"create"}, kind: schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}}, true
	case "token":
		return subresource{verbs: []string{"create"}, kind: schema.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}}, true
	case "log":
		return subresource{log: true}, true
	case "exec", "attach", "portforward", "proxy":
		return subresource{conn: true}, true
	}
	return subresource{}, false
}

// prefix is the URL prefix of a group version without the leading slash,
// which is also its key in the /openapi/v3 index ("api/v1", "apis/apps/v1").
func prefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// groupIdent is how upstream spells a group in operation IDs and tags:
// "" -> Core, apps -> Apps, rbac.authorization.k8s.io -> RbacAuthorization.
func groupIdent(group string) string {
	if group == "" {
		return "Core"
	}
	var b strings.Builder
	for _, part := range strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func groupTag(gv schema.GroupVersion) string {
	ident := groupIdent(gv.Group)
	return strings.ToLower(ident[:1]) + ident[1:] + "_" + gv.Version
}

func jsonYAMLProtobuf() []string {
	return []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
}

func watchStreams() []string {
	return []string{"application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"}
}

// patchTypes are the bodies PATCH takes; kubectl apply looks for the
// strategic merge one to decide it may compute a strategic patch.
func patchTypes() []string {
	return []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"}
}

// operation is one documented HTTP operation before it becomes a
// spec.Operation.
type operation struct {
	id, action, description string
	gvk                     schema.GroupVersionKind
	tag                     string
	params                  []spec.Parameter
	body                    *spec.Schema
	consumes, produces      []string
	responses               map[int]*spec.Schema // nil schema: no body
}

func (o operation) build() *spec.Operation {
	op := &spec.Operation{OperationProps: spec.OperationProps{
		ID:          o.id,
		Description: o.description,
		Tags:        []string{o.tag},
		Schemes:     []string{"https"},
		Consumes:    o.consumes,
		Produces:    o.produces,
		Parameters:  slices.Clone(o.params),
		Responses:   &spec.Responses{ResponsesProps: spec.ResponsesProps{StatusCodeResponses: map[int]spec.Response{}}},
	}}
	if op.Consumes == nil {
		op.Consumes = []string{"*/*"}
	}
	if op.Produces == nil {
		op.Produces = jsonYAMLProtobuf()
	}
	if o.body != nil {
		op.Parameters = append([]spec.Parameter{bodyParam(*o.body)}, op.Parameters...)
	}
	for code, body := range o.responses {
		op.Responses.StatusCodeResponses[code] = spec.Response{ResponseProps: spec.ResponseProps{Description: statusText(code), Schema: body}}
	}
	op.Responses.StatusCodeResponses[401] = spec.Response{ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}
	op.AddExtension("x-kubernetes-action", o.action)
	op.AddExtension(extGVK, map[string]any{"group": o.gvk.Group, "version": o.gvk.Version, "kind": o.gvk.Kind})
	return op
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 202:
		return "Accepted"
	}
	return ""
}

// pathBuilder documents the paths of served resources, defining the
// schemas they use through the generator.
type pathBuilder struct {
	gen   *generator
	types map[schema.GroupVersionKind]reflect.Type
	paths map[string]spec.PathItem // of one group version

	status, deleteOptions, patch *spec.Schema
}

func newPathBuilder(gen *generator, types map[schema.GroupVersionKind]reflect.Type) (*pathBuilder, error) {
	b := &pathBuilder{gen: gen, types: types}
	for _, m := range []struct {
		into **spec.Schema
		t    reflect.Type
	}{
		{&b.status, reflect.TypeFor[metav1.Status]()},
		{&b.deleteOptions, reflect.TypeFor[metav1.DeleteOptions]()},
		{&b.patch, reflect.TypeFor[metav1.Patch]()},
	} {
		name, err := gen.define(m.t)
		if err != nil {
			return nil, err
		}
		s := refSchema(name)
		*m.into = &s
	}
	return b, nil
}

func (b *pathBuilder) ref(gvk schema.GroupVersionKind) (*spec.Schema, error) {
	t, ok := b.types[gvk]
	if !ok {
		return nil, fmt.Errorf("no Go type for %v", gvk)
	}
	name, err := b.gen.define(t)
	if err != nil {
		return nil, err
	}
	s := refSchema(name)
	return &s, nil
}

func (b *pathBuilder) add(path string, pathParams []spec.Parameter, method string, op operation) {
	item := b.paths[path]
	if item.Parameters == nil {
		item.Parameters = append(slices.Clone(pathParams), prettyParam())
	}
	built := op.build()
	switch method {
	case "GET":
		item.Get = built
	case "POST":
		item.Post = built
	case "PUT":
		item.Put = built
	case "PATCH":
		item.Patch = built
	case "DELETE":
		item.Delete = built
	}
	b.paths[path] = item
}

// resource documents every path and verb of r.
func (b *pathBuilder) resource(r Resource) error {
	gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
	gvk := gv.WithKind(r.Kind)
	obj, err := b.ref(gvk)
	if err != nil {
		return err
	}
	list, err := b.ref(gv.WithKind(r.Kind + "List"))
	if err != nil && (slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "watch")) {
		return err
	}
	status := b.status

	ident := groupIdent(gv.Group) + strings.ToUpper(gv.Version[:1]) + gv.Version[1:]
	scope, collection := "", "/"+prefix(gv)+"/"+r.Resource
	var collParams []spec.Parameter
	if r.Namespaced {
		scope = "Namespaced"
		collection = "/" + prefix(gv) + "/namespaces/{namespace}/" + r.Resource
		collParams = []spec.Parameter{pathParam("namespace", "object name and auth scope, such as for teams and projects")}
	}
	item := collection + "/{name}"
	itemParams := append([]spec.Parameter{pathParam("name", "name of the "+r.Kind)}, collParams...)
	base := operation{gvk: gvk, tag: groupTag(gv)}
	with := func(f func(o *operation)) operation { o := base; f(&o); return o }
	ok200 := func(s *spec.Schema) map[int]*spec.Schema { return map[int]*spec.Schema{200: s} }

	for _, verb := range r.Verbs {
		switch verb {
		case "list":
			listOp := func(id string) operation {
				return with(func(o *operation) {
					o.id, o.action, o.description = id, "list", "list or watch objects of kind "+r.Kind
					o.params = listParams(slices.Contains(r.Verbs, "watch"))
					o.produces = append(jsonYAMLProtobuf(), watchStreams()...)
					o.responses = ok200(list)
				})
			}
			b.add(collection, collParams, "GET", listOp("list"+ident+scope+r.Kind))
			if r.Namespaced {
				b.add("/"+prefix(gv)+"/"+r.Resource, nil, "GET", listOp("list"+ident+r.Kind+"ForAllNamespaces"))
			}
		case "create":
			b.add(collection, collParams, "POST", with(func(o *operation) {
				o.id, o.action, o.description = "create"+ident+scope+r.Kind, "post", "create a "+r.Kind
				o.params, o.body = writeParams(false), obj
				o.responses = map[int]*spec.Schema{200: obj, 201: obj, 202: obj}
			}))
		case "deletecollection":
			b.add(collection, collParams, "DELETE", with(func(o *operation) {
				o.id, o.action, o.description = "delete"+ident+"Collection"+scope+r.Kind, "deletecollection", "delete collection of "+r.Kind
				o.params, o.body = append(deleteParams(), listParams(false)...), b.deleteOptions
				o.responses = ok200(status)
			}))
		case "get", "update", "patch":
			b.add(item, itemParams, verbMethod(verb), b.itemOp(base, verb, ident+scope+r.Kind, r.Kind, "", obj))
		case "delete":
			b.add(item, itemParams, "DELETE", with(func(o *operation) {
				o.id, o.action, o.description = "delete"+ident+scope+r.Kind, "delete", "delete a "+r.Kind
				o.params, o.body = deleteParams(), b.deleteOptions
				o.responses = map[int]*spec.Schema{200: status, 202: status}
			}))
		}
	}
	for _, name := range r.Subresources {
		if err := b.subresource(base, r, name, ident, scope+r.Kind, item, itemParams, obj); err != nil {
			return err
		}
	}
	return nil
}

func verbMethod(verb string) string {
	return map[string]string{"get": "GET", "update": "PUT", "patch": "PATCH", "create": "POST"}[verb]
}

// itemOp documents get/update/patch of an object or of a subresource
// carrying an object (what names it in descriptions, "" for the object).
func (b *pathBuilder) itemOp(base operation, verb, idStem, kind, what string, obj *spec.Schema) operation {
	o := base
	of := ""
	if what != "" {
		of = what + " of "
	}
	switch verb {
	case "get":
		o.id, o.action, o.description = "read"+idStem, "get", "read "+of+"the specified "+kind
		o.responses = map[int]*spec.Schema{200: obj}
	case "update":
		o.id, o.action, o.description = "replace"+idStem, "put", "replace "+of+"the specified "+kind
		o.params, o.body = writeParams(false), obj
		o.responses = map[int]*spec.Schema{200: obj, 201: obj}
	case "patch":
		o.id, o.action, o.description = "patch"+idStem, "patch", "partially update "+of+"the specified "+kind
		o.params, o.body, o.consumes = writeParams(true), b.patch, patchTypes()
		o.responses = map[int]*spec.Schema{200: obj, 201: obj}
	case "create":
		o.id, o.action, o.description = "create"+idStem, "post", "create "+of+"a "+kind
		o.params, o.body = writeParams(false), obj
		o.responses = map[int]*spec.Schema{200: obj, 201: obj, 202: obj}
	}
	return o
}

func (b *pathBuilder) subresource(base operation, r Resource, name, ident, scopedKind, item string, itemParams []spec.Parameter, parent *spec.Schema) error {
	sub, ok := knownSubresource(name)
	if !ok {
		return fmt.Errorf("%s/%s: unknown subresource %q", r.Group, r.Resource, name)
	}
	path := item + "/" + name
	scopedKind += strings.ToUpper(name[:1]) + name[1:]
	idStem := ident + scopedKind
	switch {
	case sub.log:
		o := base
		o.id, o.action, o.description = "read"+idStem, "get", "read log of the specified "+r.Kind
		o.params, o.produces = logParams(), []string{"text/plain", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
		o.responses = map[int]*spec.Schema{200: spec.StringProperty()}
		b.add(path, itemParams, "GET", o)
		return nil
	case sub.conn:
		for _, method := range []string{"GET", "POST"} {
			o := base
			verb := strings.ToUpper(method[:1]) + strings.ToLower(method[1:])
			o.id = "connect" + ident + verb + scopedKind
			o.action, o.description = "connect", "connect "+method+" requests to "+name+" of "+r.Kind
			o.params, o.produces = connectParams(name), []string{"*/*"}
			o.responses = map[int]*spec.Schema{200: spec.StringProperty()}
			b.add(path, itemParams, method, o)
		}
		return nil
	}
	obj := parent
	if !sub.kind.Empty() {
		var err error
		if obj, err = b.ref(sub.kind); err != nil {
			return fmt.Errorf("subresource %s of %s: %w", name, r.Resource, err)
		}
		base.gvk = sub.kind
	}
	for _, verb := range sub.verbs {
		b.add(path, itemParams, verbMethod(verb), b.itemOp(base, verb, idStem, r.Kind, name, obj))
	}
	return nil
}
