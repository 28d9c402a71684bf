package sandbox

import (
	"bytes"
	"encoding/xml"
	"slices"
	"strconv"
	"sync"
)

// xmlBufs recycles the response buffers of xmlBody answers (a 200-instance
// DescribeInstances page is about 250 KB).
var xmlBufs = sync.Pool{New: func() any { return new([]byte) }}

// xmlBody is a query-protocol answer that writes its own XML document
// (without the <?xml?> header) instead of going through encoding/xml's
// reflection. Its output must be byte-identical to xml.Marshal of the same
// value; xmlwrite_test.go checks that.
type xmlBody interface {
	appendXML(b []byte) []byte
}

// appendXMLText appends s escaped the way encoding/xml escapes character
// data. Plain ASCII without special characters is copied as is; anything
// else goes through xml.EscapeText.
func appendXMLText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c == '"', c == '\'', c == '&', c == '<', c == '>', c == '\t', c == '\n', c == '\r', c < 0x20:
			var buf bytes.Buffer
			_ = xml.EscapeText(&buf, []byte(s))
			return append(b, buf.Bytes()...)
		}
	}
	return append(b, s...)
}

// appendXMLElem appends <name>escaped s</name>.
func appendXMLElem(b []byte, name, s string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendXMLText(b, s)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendXMLElemOmit is appendXMLElem for `omitempty` fields.
func appendXMLElemOmit(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return appendXMLElem(b, name, s)
}

func (x *ec2InstanceXML) appendXML(b []byte) []byte {
	b = appendXMLElem(b, "instanceId", x.InstanceID)
	b = appendXMLElem(b, "imageId", x.ImageID)
	b = append(b, "<instanceState><code>"...)
	b = strconv.AppendInt(b, int64(x.InstanceState.Code), 10)
	b = append(b, "</code>"...)
	b = appendXMLElem(b, "name", x.InstanceState.Name)
	b = append(b, "</instanceState>"...)
	b = appendXMLElem(b, "privateDnsName", x.PrivateDNSName)
	b = appendXMLElem(b, "dnsName", x.DNSName)
	b = appendXMLElem(b, "instanceType", x.InstanceType)
	b = appendXMLElem(b, "launchTime", x.LaunchTime)
	b = append(b, "<placement>"...)
	b = appendXMLElem(b, "availabilityZone", x.AvailabilityZone)
	b = append(b, "</placement>"...)
	b = appendXMLElemOmit(b, "platform", x.Platform)
	b = appendXMLElem(b, "platformDetails", x.PlatformDetails)
	b = appendXMLElemOmit(b, "subnetId", x.SubnetID)
	b = appendXMLElemOmit(b, "vpcId", x.VPCID)
	b = appendXMLElemOmit(b, "privateIpAddress", x.PrivateIP)
	b = appendXMLElemOmit(b, "ipAddress", x.PublicIP)
	b = appendXMLElem(b, "architecture", x.Architecture)
	if x.IAMProfile != nil {
		b = append(b, "<iamInstanceProfile>"...)
		b = appendXMLElem(b, "arn", x.IAMProfile.ARN)
		b = appendXMLElem(b, "id", x.IAMProfile.ID)
		b = append(b, "</iamInstanceProfile>"...)
	}
	// encoding/xml writes the a>b parent even for an empty slice.
	b = append(b, "<tagSet>"...)
	for _, t := range x.Tags {
		b = append(b, "<item>"...)
		b = appendXMLElem(b, "key", t.Key)
		b = appendXMLElem(b, "value", t.Value)
		b = append(b, "</item>"...)
	}
	b = append(b, "</tagSet>"...)
	return x.appendDetailsXML(b)
}

func appendXMLBool(b []byte, name string, v bool) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendBool(b, v)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendXMLInt(b []byte, name string, v int) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = strconv.AppendInt(b, int64(v), 10)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func appendGroupsXML(b []byte, gs []ec2Group) []byte {
	b = append(b, "<groupSet>"...)
	for _, g := range gs {
		b = append(b, "<item>"...)
		b = appendXMLElem(b, "groupId", g.GroupID)
		b = appendXMLElem(b, "groupName", g.GroupName)
		b = append(b, "</item>"...)
	}
	return append(b, "</groupSet>"...)
}

func appendAssocXML(b []byte, a *ec2NetAssoc) []byte {
	if a == nil {
		return b
	}
	b = append(b, "<association>"...)
	b = appendXMLElem(b, "publicIp", a.PublicIP)
	b = appendXMLElem(b, "publicDnsName", a.PublicDNSName)
	b = appendXMLElem(b, "ipOwnerId", a.IPOwnerID)
	return append(b, "</association>"...)
}

// appendDetailsXML writes the fields after tagSet, in struct order.
func (x *ec2InstanceXML) appendDetailsXML(b []byte) []byte {
	b = appendXMLElem(b, "reason", x.Reason)
	b = appendXMLElemOmit(b, "keyName", x.KeyName)
	b = appendXMLInt(b, "amiLaunchIndex", x.AMILaunchIndex)
	b = append(b, "<monitoring>"...)
	b = appendXMLElem(b, "state", x.Monitoring)
	b = append(b, "</monitoring>"...)
	b = appendXMLBool(b, "sourceDestCheck", x.SourceDestCheck)
	b = appendGroupsXML(b, x.Groups)
	b = appendXMLElem(b, "rootDeviceType", x.RootDeviceType)
	b = appendXMLElem(b, "rootDeviceName", x.RootDeviceName)
	b = append(b, "<blockDeviceMapping>"...)
	for _, d := range x.BlockDevices {
		b = append(b, "<item>"...)
		b = appendXMLElem(b, "deviceName", d.DeviceName)
		b = append(b, "<ebs>"...)
		b = appendXMLElem(b, "volumeId", d.VolumeID)
		b = appendXMLElem(b, "status", d.Status)
		b = appendXMLElem(b, "attachTime", d.AttachTime)
		b = appendXMLBool(b, "deleteOnTermination", d.DeleteOnTermination)
		b = append(b, "</ebs></item>"...)
	}
	b = append(b, "</blockDeviceMapping>"...)
	b = appendXMLElem(b, "virtualizationType", x.VirtualizationType)
	b = appendXMLElem(b, "clientToken", x.ClientToken)
	b = appendXMLElem(b, "hypervisor", x.Hypervisor)
	b = append(b, "<networkInterfaceSet>"...)
	for i := range x.NetworkInterfaces {
		n := &x.NetworkInterfaces[i]
		b = append(b, "<item>"...)
		b = appendXMLElem(b, "networkInterfaceId", n.ID)
		b = appendXMLElem(b, "subnetId", n.SubnetID)
		b = appendXMLElem(b, "vpcId", n.VPCID)
		b = appendXMLElem(b, "description", n.Description)
		b = appendXMLElem(b, "ownerId", n.OwnerID)
		b = appendXMLElem(b, "status", n.Status)
		b = appendXMLElem(b, "macAddress", n.MACAddress)
		b = appendXMLElem(b, "privateIpAddress", n.PrivateIP)
		b = appendXMLElem(b, "privateDnsName", n.PrivateDNSName)
		b = appendXMLBool(b, "sourceDestCheck", n.SourceDestCheck)
		b = appendGroupsXML(b, n.Groups)
		a := &n.Attachment
		b = append(b, "<attachment>"...)
		b = appendXMLElem(b, "attachmentId", a.ID)
		b = appendXMLInt(b, "deviceIndex", a.DeviceIndex)
		b = appendXMLElem(b, "status", a.Status)
		b = appendXMLElem(b, "attachTime", a.AttachTime)
		b = appendXMLBool(b, "deleteOnTermination", a.DeleteOnTermination)
		b = appendXMLInt(b, "networkCardIndex", a.NetworkCardIndex)
		b = append(b, "</attachment>"...)
		b = appendAssocXML(b, n.Association)
		b = append(b, "<privateIpAddressesSet>"...)
		for _, p := range n.PrivateIPs {
			b = append(b, "<item>"...)
			b = appendXMLElem(b, "privateIpAddress", p.PrivateIP)
			b = appendXMLElem(b, "privateDnsName", p.PrivateDNSName)
			b = appendXMLBool(b, "primary", p.Primary)
			b = appendAssocXML(b, p.Association)
			b = append(b, "</item>"...)
		}
		b = append(b, "</privateIpAddressesSet>"...)
		b = appendXMLElem(b, "interfaceType", n.InterfaceType)
		b = append(b, "</item>"...)
	}
	b = append(b, "</networkInterfaceSet>"...)
	b = appendXMLBool(b, "ebsOptimized", x.EBSOptimized)
	b = appendXMLBool(b, "enaSupport", x.ENASupport)
	b = append(b, "<cpuOptions>"...)
	b = appendXMLInt(b, "coreCount", x.CoreCount)
	b = appendXMLInt(b, "threadsPerCore", x.ThreadsPerCore)
	b = append(b, "</cpuOptions><capacityReservationSpecification>"...)
	b = appendXMLElem(b, "capacityReservationPreference", x.CapacityReservationPref)
	b = append(b, "</capacityReservationSpecification><hibernationOptions>"...)
	b = appendXMLBool(b, "configured", x.HibernationConfigured)
	b = append(b, "</hibernationOptions><metadataOptions>"...)
	m := &x.Metadata
	b = appendXMLElem(b, "state", m.State)
	b = appendXMLElem(b, "httpTokens", m.HTTPTokens)
	b = appendXMLInt(b, "httpPutResponseHopLimit", m.HopLimit)
	b = appendXMLElem(b, "httpEndpoint", m.HTTPEndpoint)
	b = appendXMLElem(b, "httpProtocolIpv6", m.IPv6)
	b = appendXMLElem(b, "instanceMetadataTags", m.Tags)
	b = append(b, "</metadataOptions><enclaveOptions>"...)
	b = appendXMLBool(b, "enabled", x.EnclaveEnabled)
	b = append(b, "</enclaveOptions>"...)
	b = appendXMLElem(b, "bootMode", x.BootMode)
	b = appendXMLElem(b, "usageOperation", x.UsageOperation)
	b = appendXMLElem(b, "usageOperationUpdateTime", x.UsageOperationUpdateTime)
	b = append(b, "<privateDnsNameOptions>"...)
	b = appendXMLElem(b, "hostnameType", x.HostnameType)
	b = appendXMLBool(b, "enableResourceNameDnsARecord", x.DNSARecord)
	b = appendXMLBool(b, "enableResourceNameDnsAAAARecord", x.DNSAAAARecord)
	b = append(b, "</privateDnsNameOptions><maintenanceOptions>"...)
	b = appendXMLElem(b, "autoRecovery", x.AutoRecovery)
	b = append(b, "</maintenanceOptions>"...)
	b = appendXMLElem(b, "currentInstanceBootMode", x.CurrentBootMode)
	b = append(b, "<networkPerformanceOptions>"...)
	b = appendXMLElem(b, "bandwidthWeighting", x.BandwidthWeighting)
	b = append(b, "</networkPerformanceOptions><operator>"...)
	b = appendXMLBool(b, "managed", x.OperatorManaged)
	return append(b, "</operator>"...)
}

func (r *describeInstancesResponse) appendXML(b []byte) []byte {
	size := 256
	for i := range r.Reservations {
		size += 128
		for _, x := range r.Reservations[i].rendered {
			size += len(x) + 16
		}
	}
	b = slices.Grow(b, size)
	b = append(b, `<DescribeInstancesResponse xmlns="`+ec2Namespace+`">`...)
	b = appendXMLElem(b, "requestId", r.RequestID)
	b = append(b, "<reservationSet>"...)
	for i := range r.Reservations {
		res := &r.Reservations[i]
		b = append(b, "<item>"...)
		b = appendXMLElem(b, "reservationId", res.ReservationID)
		b = appendXMLElem(b, "ownerId", res.OwnerID)
		b = append(b, "<instancesSet>"...)
		for j := range res.Instances {
			b = append(b, "<item>"...)
			b = res.Instances[j].appendXML(b)
			b = append(b, "</item>"...)
		}
		for _, x := range res.rendered {
			b = append(b, "<item>"...)
			b = append(b, x...)
			b = append(b, "</item>"...)
		}
		b = append(b, "</instancesSet></item>"...)
	}
	b = append(b, "</reservationSet>"...)
	b = appendXMLElemOmit(b, "nextToken", r.NextToken)
	return append(b, "</DescribeInstancesResponse>"...)
}
