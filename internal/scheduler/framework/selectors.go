package framework

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// nodeRequirement is one compiled NodeSelectorRequirement.
type nodeRequirement struct {
	key    string
	op     corev1.NodeSelectorOperator
	values []string
	number int64 // Gt/Lt operand
}

func (r *nodeRequirement) matches(value string, present bool) bool {
	switch r.op {
	case corev1.NodeSelectorOpIn:
		if !present {
			return false
		}
		for _, v := range r.values {
			if v == value {
				return true
			}
		}
		return false
	case corev1.NodeSelectorOpNotIn:
		if !present {
			return true
		}
		for _, v := range r.values {
			if v == value {
				return false
			}
		}
		return true
	case corev1.NodeSelectorOpExists:
		return present
	case corev1.NodeSelectorOpDoesNotExist:
		return !present
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !present {
			return false
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return false
		}
		if r.op == corev1.NodeSelectorOpGt {
			return n > r.number
		}
		return n < r.number
	}
	return false
}

// nodeTerm is one compiled NodeSelectorTerm: all its requirements must hold.
type nodeTerm struct {
	exprs  []nodeRequirement
	fields []nodeRequirement
	// invalid terms (bad operator or Gt/Lt operand, empty term) never match, as upstream.
	invalid bool
}

func (t *nodeTerm) matches(node *corev1.Node) bool {
	if t.invalid {
		return false
	}
	for i := range t.exprs {
		v, ok := node.Labels[t.exprs[i].key]
		if !t.exprs[i].matches(v, ok) {
			return false
		}
	}
	for i := range t.fields {
		// metadata.name is the only supported field.
		if !t.fields[i].matches(node.Name, true) {
			return false
		}
	}
	return true
}

func compileRequirements(reqs []corev1.NodeSelectorRequirement, fields bool) ([]nodeRequirement, bool) {
	out := make([]nodeRequirement, 0, len(reqs))
	for _, r := range reqs {
		c := nodeRequirement{key: r.Key, op: r.Operator, values: r.Values}
		switch r.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(r.Values) == 0 {
				return nil, false
			}
		case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
			if fields || len(r.Values) != 0 {
				return nil, false
			}
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			if fields || len(r.Values) != 1 {
				return nil, false
			}
			n, err := strconv.ParseInt(r.Values[0], 10, 64)
			if err != nil {
				return nil, false
			}
			c.number = n
		default:
			return nil, false
		}
		if fields && r.Key != metav1.ObjectNameField {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

func compileTerm(t *corev1.NodeSelectorTerm) nodeTerm {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return nodeTerm{invalid: true}
	}
	exprs, ok1 := compileRequirements(t.MatchExpressions, false)
	fields, ok2 := compileRequirements(t.MatchFields, true)
	return nodeTerm{exprs: exprs, fields: fields, invalid: !ok1 || !ok2}
}

// RequiredNodeAffinity is a pod's spec.nodeSelector together with its required node
// affinity: both must hold; the affinity terms are ORed.
type RequiredNodeAffinity struct {
	nodeSelector map[string]string
	terms        []nodeTerm
	hasTerms     bool
}

// Empty reports whether every node matches.
func (r *RequiredNodeAffinity) Empty() bool { return len(r.nodeSelector) == 0 && !r.hasTerms }

// Match reports whether node satisfies the pod's node selector and required affinity.
func (r *RequiredNodeAffinity) Match(node *corev1.Node) bool {
	for k, v := range r.nodeSelector {
		if lv, ok := node.Labels[k]; !ok || lv != v {
			return false
		}
	}
	if !r.hasTerms {
		return true
	}
	for i := range r.terms {
		if r.terms[i].matches(node) {
			return true
		}
	}
	return false
}

func compileRequiredNodeAffinity(pod *corev1.Pod) RequiredNodeAffinity {
	r := RequiredNodeAffinity{nodeSelector: pod.Spec.NodeSelector}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		r.hasTerms = true
		for i := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			r.terms = append(r.terms, compileTerm(&a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[i]))
		}
	}
	return r
}

// PreferredNodeTerm is one compiled preferred node affinity term.
type PreferredNodeTerm struct {
	Weight int32
	term   nodeTerm
}

// Matches reports whether node satisfies the term.
func (p *PreferredNodeTerm) Matches(node *corev1.Node) bool { return p.term.matches(node) }

func compilePreferredNodeAffinity(pod *corev1.Pod) []PreferredNodeTerm {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	var out []PreferredNodeTerm
	for i := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		p := &a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i]
		if p.Weight == 0 {
			continue
		}
		out = append(out, PreferredNodeTerm{Weight: p.Weight, term: compileTerm(&p.Preference)})
	}
	return out
}

// Tolerates reports whether any of tolerations tolerates taint (the rules of
// Toleration.ToleratesTaint: an empty effect matches all effects, an empty key with Exists
// matches all keys, Equal compares values).
func Tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		t := &tolerations[i]
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case "", corev1.TolerationOpEqual:
			if t.Key == "" {
				continue // Equal needs a key
			}
			if t.Value == taint.Value {
				return true
			}
		case corev1.TolerationOpExists:
			return true
		}
	}
	return false
}

// AffinityTerm is a compiled PodAffinityTerm.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	NamespaceSelector labels.Selector
	Selector          labels.Selector
	TopologyKey       string
}

// Matches reports whether pod is selected by the term; nsLabels are the labels of the
// pod's namespace. A nil namespaceSelector compiles to labels.Nothing(), an empty one to
// labels.Everything().
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || t.NamespaceSelector.Matches(nsLabels) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a compiled preferred (anti-)affinity term.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

func compileAffinityTerm(pod *corev1.Pod, term *corev1.PodAffinityTerm) (AffinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return AffinityTerm{}, fmt.Errorf("pod affinity term selector: %w", err)
	}
	if term.LabelSelector == nil {
		sel = labels.Nothing()
	}
	ns := sets.New(term.Namespaces...)
	nsSel := labels.Nothing()
	if term.NamespaceSelector != nil {
		nsSel, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector)
		if err != nil {
			return AffinityTerm{}, fmt.Errorf("pod affinity term namespace selector: %w", err)
		}
	}
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		ns.Insert(pod.Namespace)
	}
	return AffinityTerm{Namespaces: ns, NamespaceSelector: nsSel, Selector: sel, TopologyKey: term.TopologyKey}, nil
}

// SpreadConstraint is a compiled TopologySpreadConstraint.
type SpreadConstraint struct {
	MaxSkew     int32
	TopologyKey string
	Selector    labels.Selector
	MinDomains  int32
	// HonorNodeAffinity: only nodes matching the pod's required node affinity count
	// (nodeAffinityPolicy, default Honor). HonorTaints: only nodes whose taints the pod
	// tolerates count (nodeTaintsPolicy, default Ignore).
	HonorNodeAffinity bool
	HonorTaints       bool
}

func compileSpreadConstraints(pod *corev1.Pod, when corev1.UnsatisfiableConstraintAction) ([]SpreadConstraint, error) {
	var out []SpreadConstraint
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("topology spread constraint selector: %w", err)
		}
		if c.LabelSelector == nil {
			sel = labels.Nothing()
		}
		// matchLabelKeys narrow the selector to pods sharing the pod's values for those keys.
		for _, key := range c.MatchLabelKeys {
			if v, ok := pod.Labels[key]; ok {
				req, err := labels.NewRequirement(key, "in", []string{v})
				if err != nil {
					return nil, fmt.Errorf("topology spread constraint matchLabelKeys: %w", err)
				}
				sel = sel.Add(*req)
			}
		}
		sc := SpreadConstraint{
			MaxSkew: c.MaxSkew, TopologyKey: c.TopologyKey, Selector: sel,
			HonorNodeAffinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			HonorTaints:       c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor,
		}
		if c.MinDomains != nil {
			sc.MinDomains = *c.MinDomains
		}
		out = append(out, sc)
	}
	return out, nil
}
