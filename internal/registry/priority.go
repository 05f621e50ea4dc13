package registry

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/registry/validation"
)

var priorityClassResource = schedulingv1.Resource("priorityclasses")

// EnsureSystemPriorityClasses creates the system priority classes that are missing, as
// kube-apiserver does at start-up.
func EnsureSystemPriorityClasses(ctx context.Context, classes *Store) error {
	for _, pc := range validation.SystemPriorityClasses() {
		_, err := classes.Create(ctx, "", pc, CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}

// priorityClassCheckDelete refuses to delete a system priority class, as Kubernetes'
// priorityclasses storage does.
func priorityClassCheckDelete(obj runtime.Object) error {
	name := obj.(*schedulingv1.PriorityClass).Name
	for _, spc := range validation.SystemPriorityClasses() {
		if spc.Name == name {
			return apierrors.NewForbidden(priorityClassResource, name, errors.New("this is a system priority class and cannot be deleted"))
		}
	}
	return nil
}

// PriorityAdmission is Kubernetes' Priority admission plugin: pods get spec.priority
// and spec.preemptionPolicy from their PriorityClass (AdmitPod), and at most one class
// is the global default (ValidateClass). Pods are admitted against a followed copy of
// the classes, as the plugin's lister is, so that a pod create reads no storage; a class
// the copy does not know yet is read from storage.
type PriorityAdmission struct {
	classes *Store
	known   *followed[*schedulingv1.PriorityClass]
}

// NewPriorityAdmission follows the classes store until ctx ends. Start it after the
// store's watch cache.
func NewPriorityAdmission(ctx context.Context, classes *Store) *PriorityAdmission {
	return &PriorityAdmission{classes: classes, known: follow[*schedulingv1.PriorityClass](ctx, classes)}
}

// AdmitPod is the pods store's mutating admission. On create it resolves the pod's
// class (the global default when it names none, then the name is set to it; priority 0
// and PreemptLowerPriority when there is no default) and refuses a priority or
// preemption policy the pod sets that differs from the class's. On update it keeps the
// stored priority and policy when the update omits them.
func (p *PriorityAdmission) AdmitPod(ctx context.Context, obj, old runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind Pod but was unable to be converted")
	}
	if old != nil {
		oldPod := old.(*corev1.Pod)
		if pod.Spec.Priority == nil {
			pod.Spec.Priority = oldPod.Spec.Priority
		}
		if pod.Spec.PreemptionPolicy == nil {
			pod.Spec.PreemptionPolicy = oldPod.Spec.PreemptionPolicy
		}
		return nil
	}
	forbidden := func(format string, args ...any) error {
		// Named as kube-apiserver's admission names a refused object: by its generateName
		// when the name is still to be generated (a controller's pods).
		name := pod.Name
		if name == "" {
			name = pod.GenerateName
		}
		return apierrors.NewForbidden(corev1.Resource("pods"), name, fmt.Errorf(format, args...))
	}
	var priority int32
	policy := corev1.PreemptLowerPriority
	if name := pod.Spec.PriorityClassName; name == "" {
		pc, err := p.globalDefault(ctx)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to get default priority class: %v", err))
		}
		if pc != nil {
			pod.Spec.PriorityClassName = pc.Name
			priority = pc.Value
			if pc.PreemptionPolicy != nil {
				policy = *pc.PreemptionPolicy
			}
		}
	} else {
		pc, err := p.class(ctx, name)
		if apierrors.IsNotFound(err) {
			return forbidden("no PriorityClass with name %v was found", name)
		}
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("failed to get PriorityClass with name %s: %v", name, err))
		}
		priority = pc.Value
		if pc.PreemptionPolicy != nil {
			policy = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return forbidden("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority)
	}
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != policy {
		return forbidden("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, policy)
	}
	pod.Spec.Priority = &priority
	pod.Spec.PreemptionPolicy = &policy
	return nil
}

// ValidateClass is the priorityclasses store's validating admission: a class may not
// become the global default while another one is. It reads storage, not the followed
// copy: class writes are rare, and a default made a moment ago must count.
func (p *PriorityAdmission) ValidateClass(ctx context.Context, obj, _ runtime.Object) error {
	pc, ok := obj.(*schedulingv1.PriorityClass)
	if !ok {
		return apierrors.NewBadRequest("resource was marked with kind PriorityClass but was unable to be converted")
	}
	if !pc.GlobalDefault {
		return nil
	}
	classes, err := p.storedClasses(ctx)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("failed to get default priority class: %v", err))
	}
	// On create the class is not stored yet; on update it may be the default already.
	if dpc := lowestDefault(classes); dpc != nil && dpc.Name != pc.Name {
		return apierrors.NewForbidden(priorityClassResource, pc.Name, fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", dpc.Name))
	}
	return nil
}

// class returns the class named name: from the followed copy, else from storage.
func (p *PriorityAdmission) class(ctx context.Context, name string) (*schedulingv1.PriorityClass, error) {
	if pc, ok := p.known.get(name); ok {
		return pc, nil
	}
	obj, err := p.classes.Get(ctx, "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*schedulingv1.PriorityClass), nil
}

// globalDefault returns the default class, nil when there is none.
func (p *PriorityAdmission) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	classes, synced := p.known.list()
	if !synced {
		var err error
		if classes, err = p.storedClasses(ctx); err != nil {
			return nil, err
		}
	}
	return lowestDefault(classes), nil
}

func (p *PriorityAdmission) storedClasses(ctx context.Context) ([]*schedulingv1.PriorityClass, error) {
	list, err := p.classes.List(ctx, "", ListOptions{})
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	classes := make([]*schedulingv1.PriorityClass, 0, len(items))
	for _, item := range items {
		classes = append(classes, item.(*schedulingv1.PriorityClass))
	}
	return classes, nil
}

// lowestDefault picks the global default class. Should a race have left several, the one
// with the lowest value wins, as in Kubernetes; ties go to the first name, so the pick
// does not depend on the order of the list.
func lowestDefault(classes []*schedulingv1.PriorityClass) *schedulingv1.PriorityClass {
	var dpc *schedulingv1.PriorityClass
	for _, pc := range classes {
		if !pc.GlobalDefault {
			continue
		}
		if dpc == nil || pc.Value < dpc.Value || (pc.Value == dpc.Value && pc.Name < dpc.Name) {
			dpc = pc
		}
	}
	return dpc
}
