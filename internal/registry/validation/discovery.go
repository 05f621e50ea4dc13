package validation

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Size limits of an EndpointSlice.
const (
	maxSliceEndpoints = 1000
	maxSliceAddresses = 100
	maxSlicePorts     = 20000
	maxSliceZoneHints = 8
	maxSliceNodeHints = 8
	maxTopologyLabels = 16
)

var addressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

// ValidateEndpointSlice validates an EndpointSlice on create.
func ValidateEndpointSlice(slice *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := ValidateObjectMeta(&slice.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	typePath := field.NewPath("addressType")
	switch slice.AddressType {
	case "":
		allErrs = append(allErrs, field.Required(typePath, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		allErrs = append(allErrs, field.NotSupported(typePath, slice.AddressType, addressTypes))
	}
	allErrs = append(allErrs, validateSliceEndpoints(slice.Endpoints, slice.AddressType, field.NewPath("endpoints"))...)
	return append(allErrs, validateSlicePorts(slice.Ports, field.NewPath("ports"))...)
}

// ValidateEndpointSliceUpdate validates an EndpointSlice update; the address
// type is immutable.
func ValidateEndpointSliceUpdate(slice, oldSlice *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateMetaUpdate(&slice.ObjectMeta, &oldSlice.ObjectMeta)
	allErrs = append(allErrs, ValidateEndpointSlice(slice)...)
	return append(allErrs, ValidateImmutableField(slice.AddressType, oldSlice.AddressType, field.NewPath("addressType"))...)
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	if len(endpoints) > maxSliceEndpoints {
		return field.ErrorList{field.TooMany(fldPath, len(endpoints), maxSliceEndpoints)}
	}
	var allErrs field.ErrorList
	for i, ep := range endpoints {
		idxPath := fldPath.Index(i)
		addrPath := idxPath.Child("addresses")
		if len(ep.Addresses) == 0 {
			allErrs = append(allErrs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxSliceAddresses {
			allErrs = append(allErrs, field.TooMany(addrPath, len(ep.Addresses), maxSliceAddresses))
		}
		for j, address := range ep.Addresses {
			p := addrPath.Index(j)
			switch addrType {
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
				errs := validation.IsValidIP(p, address)
				if len(errs) == 0 {
					if addr, _ := parseIP(address); addr.Is4() != (addrType == discoveryv1.AddressTypeIPv4) {
						errs = append(errs, field.Invalid(p, address, "must be a valid "+string(addrType)+" address"))
					}
				}
				if len(errs) == 0 {
					errs = ValidateNonSpecialIP(address, p)
				}
				allErrs = append(allErrs, errs...)
			case discoveryv1.AddressTypeFQDN:
				allErrs = append(allErrs, validation.IsFullyQualifiedDomainName(p, address)...)
			}
		}
		if ep.NodeName != nil {
			allErrs = append(allErrs, validateNameWith(ValidateNodeName, *ep.NodeName, idxPath.Child("nodeName"))...)
		}
		if len(ep.DeprecatedTopology) > maxTopologyLabels {
			allErrs = append(allErrs, field.TooMany(idxPath.Child("deprecatedTopology"), len(ep.DeprecatedTopology), maxTopologyLabels))
		}
		allErrs = append(allErrs, ValidateLabels(ep.DeprecatedTopology, idxPath.Child("deprecatedTopology"))...)
		if ep.Zone != nil {
			allErrs = append(allErrs, messagesToErrors(validation.IsValidLabelValue(*ep.Zone), idxPath.Child("zone"), *ep.Zone)...)
		}
		if ep.Hostname != nil {
			allErrs = append(allErrs, ValidateDNS1123Label(*ep.Hostname, idxPath.Child("hostname"))...)
		}
		if ep.Hints != nil {
			allErrs = append(allErrs, validateSliceHints(ep.Hints, idxPath.Child("hints"))...)
		}
	}
	return allErrs
}

func validateSliceHints(hints *discoveryv1.EndpointHints, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	zonesPath := fldPath.Child("forZones")
	if len(hints.ForZones) > maxSliceZoneHints {
		allErrs = append(allErrs, field.TooMany(zonesPath, len(hints.ForZones), maxSliceZoneHints))
	}
	zones := sets.New[string]()
	for i, z := range hints.ForZones {
		p := zonesPath.Index(i).Child("name")
		if zones.Has(z.Name) {
			allErrs = append(allErrs, field.Duplicate(p, z.Name))
		}
		zones.Insert(z.Name)
		allErrs = append(allErrs, messagesToErrors(validation.IsValidLabelValue(z.Name), p, z.Name)...)
	}
	nodesPath := fldPath.Child("forNodes")
	if len(hints.ForNodes) > maxSliceNodeHints {
		allErrs = append(allErrs, field.TooMany(nodesPath, len(hints.ForNodes), maxSliceNodeHints))
	}
	nodes := sets.New[string]()
	for i, n := range hints.ForNodes {
		p := nodesPath.Index(i).Child("name")
		if nodes.Has(n.Name) {
			allErrs = append(allErrs, field.Duplicate(p, n.Name))
		}
		nodes.Insert(n.Name)
		allErrs = append(allErrs, validateNameWith(ValidateNodeName, n.Name, p)...)
	}
	return allErrs
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	if len(ports) > maxSlicePorts {
		return field.ErrorList{field.TooMany(fldPath, len(ports), maxSlicePorts)}
	}
	var allErrs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		idxPath := fldPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			allErrs = append(allErrs, ValidateDNS1123Label(name, idxPath.Child("name"))...)
		}
		if names.Has(name) {
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), name))
		} else {
			names.Insert(name)
		}
		if port.Port != nil {
			allErrs = append(allErrs, messagesToErrors(validation.IsValidPortNum(int(*port.Port)), idxPath.Child("port"), *port.Port)...)
		}
		// A nil protocol is defaulted to TCP.
		if port.Protocol != nil && !isSupportedProtocol(*port.Protocol) {
			allErrs = append(allErrs, field.NotSupported(idxPath.Child("protocol"), *port.Protocol, []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}))
		}
		if port.AppProtocol != nil {
			allErrs = append(allErrs, ValidateQualifiedName(*port.AppProtocol, idxPath.Child("appProtocol"))...)
		}
	}
	return allErrs
}
