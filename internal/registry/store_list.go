package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/storage"
)

// ListOptions select objects.
type ListOptions struct {
	Label                labels.Selector
	Field                fields.Selector
	Limit                int64
	Continue             string
	ResourceVersion      string
	ResourceVersionMatch metav1.ResourceVersionMatch
}

// Matches reports whether obj passes the label and field selectors.
func (s *Store) Matches(obj runtime.Object, opts ListOptions) bool {
	if opts.Label != nil && !opts.Label.Empty() {
		accessor, err := meta.Accessor(obj)
		if err != nil || !opts.Label.Matches(labels.Set(accessor.GetLabels())) {
			return false
		}
	}
	if opts.Field != nil && !opts.Field.Empty() {
		return opts.Field.Matches(s.FieldSet(obj))
	}
	return true
}

// FieldSet returns the fields of obj that field selectors see.
func (s *Store) FieldSet(obj runtime.Object) fields.Set {
	if s.Res.Fields != nil {
		return s.Res.Fields(obj)
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	set := fields.Set{"metadata.name": accessor.GetName()}
	if s.Res.Namespaced {
		set["metadata.namespace"] = accessor.GetNamespace()
	}
	return set
}

type continueToken struct {
	APIVersion      string `json:"v"`
	ResourceVersion int64  `json:"rv"`
	StartKey        string `json:"start"`
}

func encodeContinue(rev int64, lastKey, prefix string) string {
	b, _ := json.Marshal(continueToken{APIVersion: "meta.k8s.io/v1", ResourceVersion: rev, StartKey: strings.TrimPrefix(lastKey, prefix)})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(token, prefix string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return 0, "", fmt.Errorf("continue key is not valid: %v", err)
	}
	var c continueToken
	if err := json.Unmarshal(raw, &c); err != nil {
		return 0, "", fmt.Errorf("continue key is not valid: %v", err)
	}
	if c.APIVersion != "meta.k8s.io/v1" {
		return 0, "", fmt.Errorf("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	if c.ResourceVersion <= 0 {
		return 0, "", errors.New("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
	}
	if strings.Contains(c.StartKey, "..") || strings.HasPrefix(c.StartKey, "/") {
		return 0, "", errors.New("continue key is not valid: start key may not contain path traversal")
	}
	return c.ResourceVersion, prefix + c.StartKey, nil
}

// List reads a page of objects in namespace ns ("" = all namespaces) as a typed list.
func (s *Store) List(ctx context.Context, ns string, opts ListOptions) (runtime.Object, error) {
	prefix := s.Res.KeyPrefix(ns)
	var rev int64
	startAfter := ""
	if opts.Continue != "" {
		if opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
			return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
		}
		r, key, err := decodeContinue(opts.Continue, prefix)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		rev, startAfter = r, key
	} else {
		r, err := ParseRV(opts.ResourceVersion)
		if err != nil {
			return nil, err
		}
		switch opts.ResourceVersionMatch {
		case metav1.ResourceVersionMatchExact:
			if r == 0 {
				return nil, apierrors.NewBadRequest("resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
			}
			rev = r
		case "", metav1.ResourceVersionMatchNotOlderThan:
			// The latest state is never older than any requested version.
			if r > 0 {
				cur, err := s.storage.CurrentRevision(ctx)
				if err != nil {
					return nil, s.storageError(err, "")
				}
				if r > cur {
					return nil, tooLargeResourceVersion(fmt.Sprintf("Too large resource version: %d, current: %d", r, cur))
				}
			}
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("resourceVersionMatch: Unsupported value: %q", opts.ResourceVersionMatch))
		}
	}
	list := s.Res.NewList()
	var items []runtime.Object
	filtered := (opts.Label != nil && !opts.Label.Empty()) || (opts.Field != nil && !opts.Field.Empty())
	var res storage.ListResult
	for {
		pageLimit := opts.Limit
		if pageLimit > 0 && filtered {
			pageLimit = max(pageLimit-int64(len(items)), 64)
		}
		var err error
		res, err = s.storage.List(ctx, prefix, storage.ListOptions{Revision: rev, Limit: pageLimit, StartAfter: startAfter})
		if errors.Is(err, storage.ErrCompacted) && opts.Continue != "" {
			return nil, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
		}
		if err != nil {
			return nil, s.storageError(err, "")
		}
		rev = res.Revision
		for i, kv := range res.Items {
			obj, err := s.codec.decode(s.Res, kv)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			startAfter = kv.Key
			if !s.Matches(obj, opts) {
				continue
			}
			items = append(items, obj)
			if opts.Limit > 0 && int64(len(items)) >= opts.Limit {
				more := res.More || i < len(res.Items)-1
				res.More = more
				if !filtered {
					res.Remaining = res.Remaining + int64(len(res.Items)-1-i)
				}
				goto done
			}
		}
		if !res.More || opts.Limit == 0 {
			break
		}
	}
done:
	if err := meta.SetList(list, items); err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	lm.SetResourceVersion(formatRV(rev))
	if opts.Limit > 0 && res.More {
		lm.SetContinue(encodeContinue(rev, startAfter, prefix))
		if !filtered && res.Remaining > 0 {
			n := res.Remaining
			lm.SetRemainingItemCount(&n)
		}
	}
	list.GetObjectKind().SetGroupVersionKind(s.Res.GroupVersion.WithKind(s.Res.Kind + "List"))
	return list, nil
}
