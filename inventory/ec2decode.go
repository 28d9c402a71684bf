package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithytime "github.com/aws/smithy-go/time"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// The SDK's generic EC2 XML decoder costs about 190 µs per real-shaped
// instance (it builds every one of Instance's ~60 fields and their nested
// types through encoding/xml): most of the CPU of a 10,000-instance scan
// and, on a 2-core machine, the limit on how fast a scan finishes
// (BenchmarkDescribeInstancesPage: 38 ms against 2.2 ms for a 200-instance
// page). leanDescribeInstances
// swaps in a decoder for successful DescribeInstances answers that walks
// the document once and keeps only the fields the inventory reads
// (mergeEC2); error answers still go through the SDK's own deserializer, so
// retries and typed API errors are unchanged.
//
// Contract: the *ec2.DescribeInstancesOutput it returns has NextToken and,
// per reservation, OwnerId and ReservationId; per instance InstanceId,
// InstanceType, State.Name and State.Code, PrivateDnsName, PublicDnsName,
// PrivateIpAddress, PublicIpAddress, VpcId, SubnetId, Placement
// .AvailabilityZone, Platform, PlatformDetails, ImageId, LaunchTime,
// IamInstanceProfile.Arn/Id and Tags. Everything else is nil. An empty
// element is nil, as in the SDK. TestLeanEC2DecoderMatchesSDK compares it
// with the SDK's decoder through mergeEC2 on the same bytes.
func leanDescribeInstances(stack *middleware.Stack) error {
	mw := &leanEC2Deserializer{}
	old, err := stack.Deserialize.Swap("OperationDeserializer", mw)
	if err != nil {
		return fmt.Errorf("install lean DescribeInstances decoder: %w", err)
	}
	mw.sdk = old
	return nil
}

// withLeanDecoder is the per-call option that installs leanDescribeInstances.
func withLeanDecoder(o *ec2.Options) {
	o.APIOptions = append(o.APIOptions, leanDescribeInstances)
}

type leanEC2Deserializer struct {
	sdk middleware.DeserializeMiddleware
}

func (*leanEC2Deserializer) ID() string { return "OperationDeserializer" }

// leanBufs recycles response bodies (a 200-instance page of a real
// answer is about 1 MB).
var leanBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (m *leanEC2Deserializer) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	out middleware.DeserializeOutput, md middleware.Metadata, err error,
) {
	out, md, err = next.HandleDeserialize(ctx, in)
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if err != nil || !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		// Transport errors and API errors: the SDK's path, unchanged.
		replay := middleware.DeserializeHandlerFunc(func(context.Context, middleware.DeserializeInput) (middleware.DeserializeOutput, middleware.Metadata, error) {
			return out, md, err
		})
		return m.sdk.HandleDeserialize(ctx, in, replay)
	}
	defer func() { smithyhttp.CloseResponseBody(ctx, resp, false, err) }()

	buf := leanBufs.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		leanBufs.Put(buf)
	}()
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return out, md, &smithy.DeserializationError{Err: fmt.Errorf("read DescribeInstances response: %w", err)}
	}
	result, err := decodeDescribeInstances(buf.Bytes())
	if err != nil {
		return out, md, &smithy.DeserializationError{
			Err:      fmt.Errorf("decode DescribeInstances response: %w", err),
			Snapshot: bytes.Clone(buf.Bytes()[:min(buf.Len(), 1024)]),
		}
	}
	out.Result = result
	return out, md, nil
}

// decodeDescribeInstances decodes a DescribeInstancesResponse document.
// An empty body is an empty answer, as in the SDK.
func decodeDescribeInstances(b []byte) (*ec2.DescribeInstancesOutput, error) {
	x := &xmlScan{b: b}
	out := &ec2.DescribeInstancesOutput{}
	name, ok, err := x.root()
	if err != nil || !ok {
		return out, err
	}
	if string(name) != "DescribeInstancesResponse" {
		return nil, fmt.Errorf("root element %q, want DescribeInstancesResponse", name)
	}
	err = x.children(func(name []byte) error {
		switch string(name) {
		case "reservationSet":
			return x.children(func(name []byte) error {
				if string(name) != "item" {
					return x.skip()
				}
				r, err := decodeReservation(x)
				out.Reservations = append(out.Reservations, r)
				return err
			})
		case "nextToken":
			return x.strPtr(&out.NextToken)
		}
		return x.skip()
	})
	if err != nil {
		return nil, err
	}
	return out, x.end()
}

func decodeReservation(x *xmlScan) (ec2types.Reservation, error) {
	var r ec2types.Reservation
	err := x.children(func(name []byte) error {
		switch string(name) {
		case "ownerId":
			return x.strPtr(&r.OwnerId)
		case "reservationId":
			return x.strPtr(&r.ReservationId)
		case "instancesSet":
			return x.children(func(name []byte) error {
				if string(name) != "item" {
					return x.skip()
				}
				r.Instances = append(r.Instances, ec2types.Instance{})
				return decodeInstance(x, &r.Instances[len(r.Instances)-1])
			})
		}
		return x.skip()
	})
	return r, err
}

func decodeInstance(x *xmlScan, in *ec2types.Instance) error {
	return x.children(func(name []byte) error {
		switch string(name) {
		case "instanceId":
			return x.strPtr(&in.InstanceId)
		case "imageId":
			return x.strPtr(&in.ImageId)
		case "instanceType":
			v, ok, err := x.text()
			if ok {
				in.InstanceType = ec2types.InstanceType(v)
			}
			return err
		case "platform":
			v, ok, err := x.text()
			if ok {
				in.Platform = ec2types.PlatformValues(v)
			}
			return err
		case "privateDnsName":
			return x.strPtr(&in.PrivateDnsName)
		case "dnsName":
			return x.strPtr(&in.PublicDnsName)
		case "privateIpAddress":
			return x.strPtr(&in.PrivateIpAddress)
		case "ipAddress":
			return x.strPtr(&in.PublicIpAddress)
		case "vpcId":
			return x.strPtr(&in.VpcId)
		case "subnetId":
			return x.strPtr(&in.SubnetId)
		case "platformDetails":
			return x.strPtr(&in.PlatformDetails)
		case "launchTime":
			v, ok, err := x.text()
			if err != nil || !ok {
				return err
			}
			t, err := smithytime.ParseDateTime(v)
			if err != nil {
				return fmt.Errorf("launchTime: %w", err)
			}
			in.LaunchTime = &t
			return nil
		case "instanceState":
			in.State = &ec2types.InstanceState{}
			return x.children(func(name []byte) error {
				switch string(name) {
				case "name":
					v, ok, err := x.text()
					if ok {
						in.State.Name = ec2types.InstanceStateName(v)
					}
					return err
				case "code":
					v, ok, err := x.text()
					if err != nil || !ok {
						return err
					}
					n, err := strconv.ParseInt(v, 10, 32)
					if err != nil {
						return fmt.Errorf("instanceState code: %w", err)
					}
					code := int32(n)
					in.State.Code = &code
					return nil
				}
				return x.skip()
			})
		case "placement":
			in.Placement = &ec2types.Placement{}
			return x.children(func(name []byte) error {
				if string(name) == "availabilityZone" {
					return x.strPtr(&in.Placement.AvailabilityZone)
				}
				return x.skip()
			})
		case "iamInstanceProfile":
			in.IamInstanceProfile = &ec2types.IamInstanceProfile{}
			return x.children(func(name []byte) error {
				switch string(name) {
				case "arn":
					return x.strPtr(&in.IamInstanceProfile.Arn)
				case "id":
					return x.strPtr(&in.IamInstanceProfile.Id)
				}
				return x.skip()
			})
		case "tagSet":
			return x.children(func(name []byte) error {
				if string(name) != "item" {
					return x.skip()
				}
				var t ec2types.Tag
				err := x.children(func(name []byte) error {
					switch string(name) {
					case "key":
						return x.strPtr(&t.Key)
					case "value":
						return x.strPtr(&t.Value)
					}
					return x.skip()
				})
				in.Tags = append(in.Tags, t)
				return err
			})
		}
		return x.skip()
	})
}

// xmlScan is a small pull parser for the well-formed, namespace-default
// XML documents AWS query APIs answer with: elements, attributes (skipped),
// character data with the predefined and numeric entities, CDATA,
// comments, processing instructions and a DOCTYPE without an internal
// subset. Element names are compared by local name (a prefix is dropped).
// Nesting is checked: a mismatched or missing end tag is an error.
type xmlScan struct {
	b []byte
	i int
	// pendingEnd is set after a self-closing tag: the next token is its end.
	pendingEnd bool
	open       [][]byte // names of the open elements
}

var errXMLEOF = errors.New("unexpected end of document")

type tokKind int

const (
	tokStart tokKind = iota
	tokEnd
	tokText // raw character data (entities not yet decoded), or CDATA content
	tokCDATA
	tokEOF
)

// next returns the next token. For tokStart, v is the local name; for
// tokEnd, v is nil (the scanner has already matched it with its start
// tag); for tokText, the raw text; for tokCDATA, the literal content.
func (x *xmlScan) next() (tokKind, []byte, error) {
	if x.pendingEnd {
		x.pendingEnd = false
		x.open = x.open[:len(x.open)-1]
		return tokEnd, nil, nil
	}
	b := x.b
	for {
		i := x.i
		if i >= len(b) {
			return tokEOF, nil, nil
		}
		if b[i] != '<' {
			j := bytes.IndexByte(b[i:], '<')
			if j < 0 {
				j = len(b) - i
			}
			x.i = i + j
			return tokText, b[i : i+j], nil
		}
		if i+1 >= len(b) {
			return 0, nil, errXMLEOF
		}
		switch b[i+1] {
		case '/':
			j := bytes.IndexByte(b[i+2:], '>')
			if j < 0 {
				return 0, nil, errXMLEOF
			}
			name := b[i+2 : i+2+j]
			for len(name) > 0 && isXMLSpace(name[len(name)-1]) {
				name = name[:len(name)-1]
			}
			// Start and end tags must match exactly (prefix included).
			if n := len(x.open); n == 0 || !bytes.Equal(x.open[n-1], name) {
				return 0, nil, fmt.Errorf("end tag </%s> does not close the open element at offset %d", name, i)
			}
			x.open = x.open[:len(x.open)-1]
			x.i = i + 2 + j + 1
			return tokEnd, nil, nil
		case '!', '?':
			if bytes.HasPrefix(b[i:], []byte("<![CDATA[")) {
				j := bytes.Index(b[i+9:], []byte("]]>"))
				if j < 0 {
					return 0, nil, errXMLEOF
				}
				x.i = i + 9 + j + 3
				return tokCDATA, b[i+9 : i+9+j], nil
			}
			next, err := skipMarkup(b, i)
			if err != nil {
				return 0, nil, err
			}
			x.i = next
			continue
		}
		// Start tag: the name (any bytes but markup and space; the parser
		// only compares names), then attributes up to an unquoted '>'.
		j, colon := i+1, -1
	name:
		for ; j < len(b); j++ {
			switch b[j] {
			case '>', '/', ' ', '\t', '\r', '\n':
				break name
			case ':':
				colon = j
			case '<', '&', '"', '\'', '=':
				return 0, nil, fmt.Errorf("bad start tag at offset %d", i)
			}
		}
		if j == i+1 {
			return 0, nil, fmt.Errorf("bad start tag at offset %d", i)
		}
		raw := b[i+1 : j]
		local := raw
		if colon >= 0 {
			local = b[colon+1 : j]
		}
		end, err := tagEnd(b, j)
		if err != nil {
			return 0, nil, err
		}
		x.i = end + 1
		x.open = append(x.open, raw)
		if b[end-1] == '/' {
			x.pendingEnd = true
		}
		return tokStart, local, nil
	}
}

// tagEnd returns the offset of the '>' that ends the tag whose attributes
// start at b[j], skipping quoted attribute values.
func tagEnd(b []byte, j int) (int, error) {
	var quote byte
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return j, nil
		case c == '<':
			return 0, fmt.Errorf("'<' inside a tag at offset %d", j)
		}
	}
	return 0, errXMLEOF
}

// skipMarkup returns the offset after the comment, CDATA section,
// processing instruction or DOCTYPE starting at b[i]. A DOCTYPE with an
// internal subset is not supported.
func skipMarkup(b []byte, i int) (int, error) {
	rest := b[i:]
	end := []byte(">")
	switch {
	case bytes.HasPrefix(rest, []byte("<!--")):
		end = []byte("-->")
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		end = []byte("]]>")
	case bytes.HasPrefix(rest, []byte("<?")):
		end = []byte("?>")
	}
	j := bytes.Index(rest[2:], end)
	if j < 0 {
		return 0, errXMLEOF
	}
	if len(end) == 1 && bytes.IndexByte(rest[:2+j], '[') >= 0 {
		return 0, errors.New("DOCTYPE with an internal subset")
	}
	return i + 2 + j + len(end), nil
}

func isXMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// root skips the prolog and returns the root element's name; ok is false
// for a document that is empty or whitespace.
func (x *xmlScan) root() ([]byte, bool, error) {
	for {
		k, v, err := x.next()
		switch {
		case err != nil:
			return nil, false, err
		case k == tokEOF:
			return nil, false, nil
		case k == tokText && len(bytes.TrimLeft(v, " \t\r\n")) == 0:
			continue
		case k == tokStart:
			return v, true, nil
		default:
			return nil, false, fmt.Errorf("content before the root element at offset %d", x.i)
		}
	}
}

// end checks that only whitespace, comments and PIs follow the root.
func (x *xmlScan) end() error {
	for {
		k, v, err := x.next()
		switch {
		case err != nil:
			return err
		case k == tokEOF:
			return nil
		case k == tokText && len(bytes.TrimLeft(v, " \t\r\n")) == 0:
			continue
		default:
			return fmt.Errorf("content after the root element at offset %d", x.i)
		}
	}
}

// children calls f for each child element of the element whose start tag
// was just read; f must consume the child through its end tag (by a
// decoding call or skip). Character data between children is ignored.
func (x *xmlScan) children(f func(name []byte) error) error {
	for {
		k, v, err := x.next()
		if err != nil {
			return err
		}
		switch k {
		case tokEOF:
			return errXMLEOF
		case tokEnd:
			return nil
		case tokStart:
			if err := f(v); err != nil {
				return err
			}
		}
	}
}

// skip consumes the element whose start tag was just read. Inside it,
// only the nesting depth is tracked (end-tag names are not compared): this
// is most of a real answer, and the elements the inventory reads are
// checked fully.
func (x *xmlScan) skip() error {
	if x.pendingEnd {
		x.pendingEnd = false
		x.open = x.open[:len(x.open)-1]
		return nil
	}
	b, i, depth := x.b, x.i, 1
	for {
		j := bytes.IndexByte(b[i:], '<')
		if j < 0 || i+j+1 >= len(b) {
			return errXMLEOF
		}
		i += j
		switch b[i+1] {
		case '/':
			k := bytes.IndexByte(b[i:], '>')
			if k < 0 {
				return errXMLEOF
			}
			i += k + 1
			if depth--; depth == 0 {
				x.i = i
				x.open = x.open[:len(x.open)-1]
				return nil
			}
		case '!', '?':
			var err error
			if i, err = skipMarkup(b, i); err != nil {
				return err
			}
		default:
			k, err := tagEnd(b, i+1)
			if err != nil {
				return err
			}
			if b[k-1] != '/' {
				depth++
			}
			i = k + 1
		}
	}
}

// text returns the character data of the element whose start tag was just
// read, consuming its end tag; ok is false for an empty element. A child
// element is an error.
func (x *xmlScan) text() (string, bool, error) {
	var s string
	var multi []byte // only when text comes in more than one token
	n := 0
	for {
		k, v, err := x.next()
		if err != nil {
			return "", false, err
		}
		switch k {
		case tokEOF:
			return "", false, errXMLEOF
		case tokStart:
			return "", false, fmt.Errorf("element <%s> where text was expected", v)
		case tokEnd:
			if n > 1 {
				return string(multi), true, nil
			}
			return s, n == 1, nil
		case tokText, tokCDATA:
			var d []byte
			if k == tokText {
				d, err = unescapeXML(v)
				if err != nil {
					return "", false, err
				}
			} else {
				d = v
			}
			n++
			if n == 1 {
				s = string(d)
				continue
			}
			if n == 2 {
				multi = append(multi, s...)
			}
			multi = append(multi, d...)
		}
	}
}

// strPtr stores the element's text in *p, leaving it nil when empty.
func (x *xmlScan) strPtr(p **string) error {
	v, ok, err := x.text()
	if ok {
		*p = &v
	}
	return err
}

// unescapeXML decodes entity and character references and normalizes line
// ends (\r\n and \r become \n), as encoding/xml does. It returns v itself
// when there is nothing to decode.
func unescapeXML(v []byte) ([]byte, error) {
	if bytes.IndexByte(v, '&') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v, nil
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch c {
		case '\r':
			out = append(out, '\n')
			if i+1 < len(v) && v[i+1] == '\n' {
				i++
			}
			continue
		case '&':
		default:
			out = append(out, c)
			continue
		}
		j := bytes.IndexByte(v[i:], ';')
		if j < 0 {
			return nil, fmt.Errorf("unterminated entity in %q", v)
		}
		ent := v[i+1 : i+j]
		i += j
		switch string(ent) {
		case "amp":
			out = append(out, '&')
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return nil, fmt.Errorf("unknown entity &%s;", ent)
			}
			var n uint64
			var err error
			if ent[1] == 'x' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || n == 0 || n > utf8.MaxRune || !utf8.ValidRune(rune(n)) {
				return nil, fmt.Errorf("bad character reference &%s;", ent)
			}
			out = utf8.AppendRune(out, rune(n))
		}
	}
	return out, nil
}

var _ middleware.DeserializeMiddleware = (*leanEC2Deserializer)(nil)
