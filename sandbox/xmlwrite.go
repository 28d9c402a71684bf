package sandbox

import (
	"bytes"
	"encoding/xml"
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
	return append(b, "</tagSet>"...)
}

func (r *describeInstancesResponse) appendXML(b []byte) []byte {
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
		b = append(b, "</instancesSet></item>"...)
	}
	b = append(b, "</reservationSet>"...)
	b = appendXMLElemOmit(b, "nextToken", r.NextToken)
	return append(b, "</DescribeInstancesResponse>"...)
}
