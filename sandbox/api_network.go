package sandbox

// Network and IAM APIs `ssmtui doctor` reads to explain why an instance is
// not in Session Manager: EC2 DescribeVpcEndpoints, DescribeVpcAttribute,
// DescribeSecurityGroups, DescribeSubnets, DescribeRouteTables (ec2Query)
// and IAM GetInstanceProfile, ListAttachedRolePolicies (awsQuery). Wire
// facts: docs/aws-apis.md §4–§5; the model is network.go.

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

func (a *apiServer) registerNetworkAPI() {
	var errs []error
	a.net, errs = newNetworkModel(a.sb.fleet)
	for _, err := range errs { // only for fleets that skipped Fleet.Validate
		a.log.Warn("fleet network entry skipped", "err", err)
	}
	a.query["ec2.DescribeVpcEndpoints"] = a.describeVpcEndpoints
	a.query["ec2.DescribeVpcAttribute"] = a.describeVpcAttribute
	a.query["ec2.DescribeSecurityGroups"] = a.describeSecurityGroups
	a.query["ec2.DescribeSubnets"] = a.describeSubnets
	a.query["ec2.DescribeRouteTables"] = a.describeRouteTables
	a.query["iam.GetInstanceProfile"] = a.getInstanceProfile
	a.query["iam.ListAttachedRolePolicies"] = a.listAttachedRolePolicies
}

// netOf returns the caller's network model, failing for a region that is
// not enabled (EC2 calls are regional).
func (a *apiServer) netOf(r *APIRequest) (*acctNet, error) {
	if err := regionDisabled(r); err != nil {
		return nil, err
	}
	n := a.net.account(r.Account)
	if n == nil {
		return nil, &APIError{Status: http.StatusInternalServerError, Code: "InternalError", Message: "no network model for account " + r.Account.ID}
	}
	return n, nil
}

// ---- the selection every EC2 Describe call shares ----

// ec2Select is one Describe call's selection: Kind.N IDs, Filter.N and
// MaxResults/NextToken paging over the region's items.
type ec2Select[T any] struct {
	idParam  string                // e.g. "GroupId."
	idPrefix string                // a malformed ID answers malformed
	what     string                // the error code's stem, e.g. InvalidGroup
	notFound func(id string) error // unknown ID
	byID     func(id string) (T, bool)
	all      []T                         // the region's items, in answer order
	filters  map[string]func(T) []string // filter name → the item's values
	minMax   int                         // MaxResults bounds
	maxMax   int
	clamp    bool // MaxResults above maxMax answers maxMax items (DescribeVpcEndpoints)
}

func (q ec2Select[T]) run(r *APIRequest) (page []T, next string, err error) {
	ids := indexedList(r.Form, q.idParam)
	filters, err := ec2Filters(r.Form)
	if err != nil {
		return nil, "", err
	}
	for _, f := range filters {
		if _, ok := q.filters[f.Name]; !ok && f.Name != "tag-key" && !strings.HasPrefix(f.Name, "tag:") {
			return nil, "", apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
	}
	limit := -1
	if s := r.Form.Get("MaxResults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < q.minMax || (!q.clamp && n > q.maxMax) {
			return nil, "", apiErr("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between %d and %d.", s, q.minMax, q.maxMax)
		}
		limit = min(n, q.maxMax)
	}
	var sel []T
	if len(ids) > 0 {
		for _, id := range ids {
			if !strings.HasPrefix(id, q.idPrefix) {
				return nil, "", apiErr(q.what+".Malformed", "Invalid id: \"%s\"", id)
			}
			it, ok := q.byID(id)
			if !ok {
				return nil, "", q.notFound(id)
			}
			sel = append(sel, it)
		}
	} else {
		sel = q.all
	}
	sel = slices.DeleteFunc(slices.Clone(sel), func(it T) bool { return !q.match(it, filters) })
	fh := hashOf([]any{r.Op, r.Region, ids, filters})
	offset := 0
	if tok := r.Form.Get("NextToken"); tok != "" {
		var ok bool
		if offset, ok = parsePageToken(tok, fh); !ok || offset > len(sel) {
			return nil, "", apiErr("InvalidParameterValue", "Unable to parse pagination token")
		}
	}
	end := len(sel)
	if limit > 0 {
		end = min(offset+limit, len(sel))
	}
	if end < len(sel) {
		next = pageToken(end, fh)
	}
	return sel[offset:end], next, nil
}

func (q ec2Select[T]) match(it T, filters []ec2Filter) bool {
	for _, f := range filters {
		var vals []string // items carry no tags: tag filters match nothing
		if get, ok := q.filters[f.Name]; ok {
			vals = get(it)
		}
		if !slices.ContainsFunc(vals, func(v string) bool {
			return slices.ContainsFunc(f.Values, func(p string) bool { return ec2Match(p, v) })
		}) {
			return false
		}
	}
	return true
}

func inRegion[T any](items []T, region func(T) string, want string) []T {
	var out []T
	for _, it := range items {
		if region(it) == want {
			out = append(out, it)
		}
	}
	return out
}

func one(s string) []string { return []string{s} }

// ec2Time is the creation time the sandbox reports for network resources.
var ec2Time = defaultLaunchTime.Add(-90 * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")

// ---- DescribeVpcEndpoints ----

type dnsEntryXML struct {
	DNSName      string `xml:"dnsName"`
	HostedZoneID string `xml:"hostedZoneId"`
}

type vpcEndpointXML struct {
	ID               string        `xml:"vpcEndpointId"`
	Type             string        `xml:"vpcEndpointType"`
	VPCID            string        `xml:"vpcId"`
	ServiceName      string        `xml:"serviceName"`
	State            string        `xml:"state"`
	PolicyDocument   string        `xml:"policyDocument,omitempty"`
	RouteTableIDs    []string      `xml:"routeTableIdSet>item"`
	SubnetIDs        []string      `xml:"subnetIdSet>item"`
	Groups           []ec2Group    `xml:"groupSet>item"`
	IPAddressType    string        `xml:"ipAddressType"`
	DNSRecordIPType  string        `xml:"dnsOptions>dnsRecordIpType,omitempty"`
	PrivateDNS       bool          `xml:"privateDnsEnabled"`
	RequesterManaged bool          `xml:"requesterManaged"`
	ENIs             []string      `xml:"networkInterfaceIdSet>item"`
	DNSEntries       []dnsEntryXML `xml:"dnsEntrySet>item"`
	Created          string        `xml:"creationTimestamp"`
	OwnerID          string        `xml:"ownerId"`
}

type describeVpcEndpointsResponse struct {
	XMLName   xml.Name         `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeVpcEndpointsResponse"`
	RequestID string           `xml:"requestId"`
	Endpoints []vpcEndpointXML `xml:"vpcEndpointSet>item"`
	NextToken string           `xml:"nextToken,omitempty"`
}

// serviceName is the endpoint service's full name in region.
func serviceName(region, service string) string {
	if strings.HasPrefix(service, "com.amazonaws.") {
		return service
	}
	return "com.amazonaws." + region + "." + service
}

func (a *apiServer) describeVpcEndpoints(r *APIRequest) (any, error) {
	n, err := a.netOf(r)
	if err != nil {
		return nil, err
	}
	byID := map[string]*netEndpoint{}
	for _, e := range n.endpoints {
		if e.region == r.Region {
			byID[e.ID] = e
		}
	}
	page, next, err := ec2Select[*netEndpoint]{
		idParam: "VpcEndpointId.", idPrefix: "vpce-", what: "InvalidVpcEndpointId",
		notFound: func(id string) error {
			return apiErr("InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '%s' does not exist", id)
		},
		byID: func(id string) (*netEndpoint, bool) { e, ok := byID[id]; return e, ok },
		all:  inRegion(n.endpoints, func(e *netEndpoint) string { return e.region }, r.Region),
		filters: map[string]func(*netEndpoint) []string{
			"vpc-id":             func(e *netEndpoint) []string { return one(e.VPCID) },
			"service-name":       func(e *netEndpoint) []string { return one(serviceName(e.region, e.Service)) },
			"vpc-endpoint-type":  func(e *netEndpoint) []string { return one(e.typ) },
			"vpc-endpoint-id":    func(e *netEndpoint) []string { return one(e.ID) },
			"vpc-endpoint-state": func(*netEndpoint) []string { return one("available") },
		},
		minMax: 1, maxMax: 1000, clamp: true,
	}.run(r)
	if err != nil {
		return nil, err
	}
	out := describeVpcEndpointsResponse{RequestID: r.RequestID, NextToken: next}
	for _, e := range page {
		out.Endpoints = append(out.Endpoints, endpointView(n, e))
	}
	return out, nil
}

func endpointView(n *acctNet, e *netEndpoint) vpcEndpointXML {
	svc := serviceName(e.region, e.Service)
	x := vpcEndpointXML{
		ID: e.ID, Type: e.typ, VPCID: e.VPCID, ServiceName: svc, State: "available",
		IPAddressType: "ipv4", PrivateDNS: e.privateDNS, Created: ec2Time, OwnerID: n.acct.ID,
		PolicyDocument: `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}`,
	}
	if e.typ == "Gateway" {
		for _, t := range n.tables {
			if t.region == e.region && t.VPCID == e.VPCID {
				x.RouteTableIDs = append(x.RouteTableIDs, t.ID)
			}
		}
		return x
	}
	x.DNSRecordIPType = "ipv4"
	x.SubnetIDs = slices.Clone(e.Subnets)
	for _, id := range e.SecurityGroups {
		g := ec2Group{GroupID: id}
		if sg := n.groupByKey[netKey(e.region, id)]; sg != nil {
			g.GroupName = sg.Name
		}
		x.Groups = append(x.Groups, g)
	}
	short := strings.TrimPrefix(svc, "com.amazonaws."+e.region+".")
	base := e.ID + "-" + fmt.Sprintf("%08x", fnv64(e.ID)&0xffffffff) + "." + short + "." + e.region + ".vpce.amazonaws.com"
	x.DNSEntries = append(x.DNSEntries, dnsEntryXML{DNSName: base, HostedZoneID: "Z7HUB22UULQXV"})
	for _, sid := range e.Subnets {
		x.ENIs = append(x.ENIs, synthID("eni", e.ID, sid))
		az := e.region + "a"
		if s := n.subnetByKey[netKey(e.region, sid)]; s != nil {
			az = s.AvailabilityZone
		}
		x.DNSEntries = append(x.DNSEntries, dnsEntryXML{DNSName: strings.Replace(base, ".", "-"+az+".", 1), HostedZoneID: "Z7HUB22UULQXV"})
	}
	if e.privateDNS {
		x.DNSEntries = append(x.DNSEntries, dnsEntryXML{DNSName: short + "." + e.region + ".amazonaws.com", HostedZoneID: "Z" + strings.ToUpper(hashOf(e.ID))})
	}
	return x
}

// ---- DescribeVpcAttribute ----

type boolValueXML struct {
	Value bool `xml:"value"`
}

type describeVpcAttributeResponse struct {
	XMLName      xml.Name      `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeVpcAttributeResponse"`
	RequestID    string        `xml:"requestId"`
	VPCID        string        `xml:"vpcId"`
	DNSSupport   *boolValueXML `xml:"enableDnsSupport,omitempty"`
	DNSHostnames *boolValueXML `xml:"enableDnsHostnames,omitempty"`
	NAUMetrics   *boolValueXML `xml:"enableNetworkAddressUsageMetrics,omitempty"`
}

func (a *apiServer) describeVpcAttribute(r *APIRequest) (any, error) {
	n, err := a.netOf(r)
	if err != nil {
		return nil, err
	}
	id, attr := r.Form.Get("VpcId"), r.Form.Get("Attribute")
	if id == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter vpcId")
	}
	if attr == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter attribute")
	}
	v := n.vpcByKey[netKey(r.Region, id)]
	if v == nil {
		return nil, apiErr("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
	}
	out := describeVpcAttributeResponse{RequestID: r.RequestID, VPCID: v.ID}
	switch attr {
	case "enableDnsSupport":
		out.DNSSupport = &boolValueXML{v.dnsSupport}
	case "enableDnsHostnames":
		out.DNSHostnames = &boolValueXML{v.dnsHostnames}
	case "enableNetworkAddressUsageMetrics":
		out.NAUMetrics = &boolValueXML{false}
	default:
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	return out, nil
}

// ---- DescribeSecurityGroups ----

type ipRangeXML struct {
	CIDR string `xml:"cidrIp"`
}

type groupPairXML struct {
	UserID  string `xml:"userId"`
	GroupID string `xml:"groupId"`
}

type ipPermissionXML struct {
	Protocol string         `xml:"ipProtocol"`
	FromPort *int           `xml:"fromPort,omitempty"`
	ToPort   *int           `xml:"toPort,omitempty"`
	Groups   []groupPairXML `xml:"groups>item"`
	IPRanges []ipRangeXML   `xml:"ipRanges>item"`
}

type securityGroupXML struct {
	OwnerID     string            `xml:"ownerId"`
	GroupID     string            `xml:"groupId"`
	GroupName   string            `xml:"groupName"`
	Description string            `xml:"groupDescription"`
	VPCID       string            `xml:"vpcId"`
	ARN         string            `xml:"securityGroupArn"`
	Ingress     []ipPermissionXML `xml:"ipPermissions>item"`
	Egress      []ipPermissionXML `xml:"ipPermissionsEgress>item"`
}

type describeSecurityGroupsResponse struct {
	XMLName   xml.Name           `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeSecurityGroupsResponse"`
	RequestID string             `xml:"requestId"`
	Groups    []securityGroupXML `xml:"securityGroupInfo>item"`
	NextToken string             `xml:"nextToken,omitempty"`
}

func (a *apiServer) describeSecurityGroups(r *APIRequest) (any, error) {
	n, err := a.netOf(r)
	if err != nil {
		return nil, err
	}
	groups := inRegion(n.groups, func(g *netGroup) string { return g.region }, r.Region)
	names := indexedList(r.Form, "GroupName.")
	for _, name := range names {
		if !slices.ContainsFunc(groups, func(g *netGroup) bool { return g.Name == name }) {
			return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", name)
		}
	}
	if len(names) > 0 {
		groups = slices.DeleteFunc(groups, func(g *netGroup) bool { return !slices.Contains(names, g.Name) })
	}
	page, next, err := ec2Select[*netGroup]{
		idParam: "GroupId.", idPrefix: "sg-", what: "InvalidGroupId",
		notFound: func(id string) error {
			return apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		},
		byID: func(id string) (*netGroup, bool) {
			g := n.groupByKey[netKey(r.Region, id)]
			return g, g != nil
		},
		all: groups,
		filters: map[string]func(*netGroup) []string{
			"vpc-id":      func(g *netGroup) []string { return one(g.VPCID) },
			"group-id":    func(g *netGroup) []string { return one(g.ID) },
			"group-name":  func(g *netGroup) []string { return one(g.Name) },
			"description": func(g *netGroup) []string { return one(g.Description) },
			"owner-id":    func(*netGroup) []string { return one(n.acct.ID) },
		},
		minMax: 5, maxMax: 1000,
	}.run(r)
	if err != nil {
		return nil, err
	}
	out := describeSecurityGroupsResponse{RequestID: r.RequestID, NextToken: next}
	for _, g := range page {
		x := securityGroupXML{
			OwnerID: n.acct.ID, GroupID: g.ID, GroupName: g.Name, Description: g.Description, VPCID: g.VPCID,
			ARN: "arn:aws:ec2:" + g.region + ":" + n.acct.ID + ":security-group/" + g.ID,
		}
		x.Ingress = permsView(n.acct.ID, g.Ingress)
		x.Egress = permsView(n.acct.ID, g.Egress)
		out.Groups = append(out.Groups, x)
	}
	return out, nil
}

func permsView(owner string, rules []SGRule) []ipPermissionXML {
	var out []ipPermissionXML
	for _, r := range rules {
		p := ipPermissionXML{Protocol: r.Protocol}
		if r.Protocol != "-1" {
			from, to := -1, -1
			if r.FromPort != nil {
				from = *r.FromPort
			}
			if r.ToPort != nil {
				to = *r.ToPort
			}
			p.FromPort, p.ToPort = &from, &to
		}
		for _, g := range r.Groups {
			p.Groups = append(p.Groups, groupPairXML{UserID: owner, GroupID: g})
		}
		for _, c := range r.CIDRs {
			p.IPRanges = append(p.IPRanges, ipRangeXML{CIDR: c})
		}
		out = append(out, p)
	}
	return out
}

// ---- DescribeSubnets ----

type subnetXML struct {
	SubnetID       string `xml:"subnetId"`
	ARN            string `xml:"subnetArn"`
	State          string `xml:"state"`
	OwnerID        string `xml:"ownerId"`
	VPCID          string `xml:"vpcId"`
	CIDR           string `xml:"cidrBlock"`
	AvailableIPs   int    `xml:"availableIpAddressCount"`
	AZ             string `xml:"availabilityZone"`
	DefaultForAZ   bool   `xml:"defaultForAz"`
	MapPublicIP    bool   `xml:"mapPublicIpOnLaunch"`
	AssignIPv6     bool   `xml:"assignIpv6AddressOnCreation"`
	IPv6Native     bool   `xml:"ipv6Native"`
	HostnameType   string `xml:"privateDnsNameOptionsOnLaunch>hostnameType"`
	DNSARecordIPv4 bool   `xml:"privateDnsNameOptionsOnLaunch>enableResourceNameDnsARecord"`
}

type describeSubnetsResponse struct {
	XMLName   xml.Name    `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeSubnetsResponse"`
	RequestID string      `xml:"requestId"`
	Subnets   []subnetXML `xml:"subnetSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

func (a *apiServer) describeSubnets(r *APIRequest) (any, error) {
	n, err := a.netOf(r)
	if err != nil {
		return nil, err
	}
	page, next, err := ec2Select[*netSubnet]{
		idParam: "SubnetId.", idPrefix: "subnet-", what: "InvalidSubnetID",
		notFound: func(id string) error {
			return apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		},
		byID: func(id string) (*netSubnet, bool) {
			s := n.subnetByKey[netKey(r.Region, id)]
			return s, s != nil
		},
		all: inRegion(n.subnets, func(s *netSubnet) string { return s.region }, r.Region),
		filters: map[string]func(*netSubnet) []string{
			"vpc-id":            func(s *netSubnet) []string { return one(s.VPCID) },
			"subnet-id":         func(s *netSubnet) []string { return one(s.ID) },
			"availability-zone": func(s *netSubnet) []string { return one(s.AvailabilityZone) },
			"cidr-block":        func(s *netSubnet) []string { return one(s.CIDR) },
			"state":             func(*netSubnet) []string { return one("available") },
			"owner-id":          func(*netSubnet) []string { return one(n.acct.ID) },
		},
		minMax: 5, maxMax: 1000,
	}.run(r)
	if err != nil {
		return nil, err
	}
	out := describeSubnetsResponse{RequestID: r.RequestID, NextToken: next}
	for _, s := range page {
		free := 0
		if p, ok := validCIDR(s.CIDR); ok {
			free = max(0, 1<<(32-p.Bits())-5-s.used)
		}
		out.Subnets = append(out.Subnets, subnetXML{
			SubnetID: s.ID, ARN: "arn:aws:ec2:" + s.region + ":" + n.acct.ID + ":subnet/" + s.ID, State: "available",
			OwnerID: n.acct.ID, VPCID: s.VPCID, CIDR: s.CIDR, AvailableIPs: free, AZ: s.AvailabilityZone,
			MapPublicIP: n.internetRoute(s) != "", HostnameType: "ip-name", DNSARecordIPv4: false,
		})
	}
	return out, nil
}

// internetRoute is the target of the subnet's route to 0.0.0.0/0 through an
// internet gateway, or "".
func (n *acctNet) internetRoute(s *netSubnet) string {
	t := n.tableByKey[netKey(s.region, s.table)]
	if t == nil {
		return ""
	}
	for _, rt := range t.Routes {
		if rt.Destination == "0.0.0.0/0" && strings.HasPrefix(rt.Target, "igw-") {
			return rt.Target
		}
	}
	return ""
}

// ---- DescribeRouteTables ----

type routeXML struct {
	Destination string `xml:"destinationCidrBlock"`
	GatewayID   string `xml:"gatewayId,omitempty"`
	NATGateway  string `xml:"natGatewayId,omitempty"`
	TransitGW   string `xml:"transitGatewayId,omitempty"`
	PeeringID   string `xml:"vpcPeeringConnectionId,omitempty"`
	ENI         string `xml:"networkInterfaceId,omitempty"`
	State       string `xml:"state"`
	Origin      string `xml:"origin"`
}

type routeAssocXML struct {
	ID       string `xml:"routeTableAssociationId"`
	TableID  string `xml:"routeTableId"`
	SubnetID string `xml:"subnetId,omitempty"`
	Main     bool   `xml:"main"`
	State    string `xml:"associationState>state"`
}

type routeTableXML struct {
	ID           string          `xml:"routeTableId"`
	VPCID        string          `xml:"vpcId"`
	OwnerID      string          `xml:"ownerId"`
	Routes       []routeXML      `xml:"routeSet>item"`
	Associations []routeAssocXML `xml:"associationSet>item"`
}

type describeRouteTablesResponse struct {
	XMLName   xml.Name        `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeRouteTablesResponse"`
	RequestID string          `xml:"requestId"`
	Tables    []routeTableXML `xml:"routeTableSet>item"`
	NextToken string          `xml:"nextToken,omitempty"`
}

// routeView places a route's target in the element EC2 uses for its kind.
func routeView(rt Route) routeXML {
	x := routeXML{Destination: rt.Destination, State: "active", Origin: "CreateRoute"}
	switch t := rt.Target; {
	case t == "local":
		x.GatewayID, x.Origin = t, "CreateRouteTable"
	case strings.HasPrefix(t, "igw-"):
		x.GatewayID = t
	case strings.HasPrefix(t, "nat-"):
		x.NATGateway = t
	case strings.HasPrefix(t, "tgw-"):
		x.TransitGW = t
	case strings.HasPrefix(t, "pcx-"):
		x.PeeringID = t
	case strings.HasPrefix(t, "eni-"):
		x.ENI = t
	}
	return x
}

func (a *apiServer) describeRouteTables(r *APIRequest) (any, error) {
	n, err := a.netOf(r)
	if err != nil {
		return nil, err
	}
	routeValues := func(pick func(routeXML) string) func(*netTable) []string {
		return func(t *netTable) []string {
			var v []string
			for _, rt := range t.Routes {
				if s := pick(routeView(rt)); s != "" {
					v = append(v, s)
				}
			}
			return v
		}
	}
	page, next, err := ec2Select[*netTable]{
		idParam: "RouteTableId.", idPrefix: "rtb-", what: "InvalidRouteTableId",
		notFound: func(id string) error {
			return apiErr("InvalidRouteTableID.NotFound", "The routeTable ID '%s' does not exist", id)
		},
		byID: func(id string) (*netTable, bool) {
			t := n.tableByKey[netKey(r.Region, id)]
			return t, t != nil
		},
		all: inRegion(n.tables, func(t *netTable) string { return t.region }, r.Region),
		filters: map[string]func(*netTable) []string{
			"vpc-id":                          func(t *netTable) []string { return one(t.VPCID) },
			"route-table-id":                  func(t *netTable) []string { return one(t.ID) },
			"association.route-table-id":      func(t *netTable) []string { return one(t.ID) },
			"association.subnet-id":           func(t *netTable) []string { return t.subnets },
			"association.main":                assocMainValues,
			"owner-id":                        func(*netTable) []string { return one(n.acct.ID) },
			"route.destination-cidr-block":    routeValues(func(x routeXML) string { return x.Destination }),
			"route.gateway-id":                routeValues(func(x routeXML) string { return x.GatewayID }),
			"route.nat-gateway-id":            routeValues(func(x routeXML) string { return x.NATGateway }),
			"route.transit-gateway-id":        routeValues(func(x routeXML) string { return x.TransitGW }),
			"route.vpc-peering-connection-id": routeValues(func(x routeXML) string { return x.PeeringID }),
		},
		minMax: 5, maxMax: 100,
	}.run(r)
	if err != nil {
		return nil, err
	}
	out := describeRouteTablesResponse{RequestID: r.RequestID, NextToken: next}
	for _, t := range page {
		x := routeTableXML{ID: t.ID, VPCID: t.VPCID, OwnerID: n.acct.ID}
		for _, rt := range t.Routes {
			x.Routes = append(x.Routes, routeView(rt))
		}
		if t.Main {
			x.Associations = append(x.Associations, routeAssocXML{ID: synthID("rtbassoc", n.acct.ID, t.region, t.ID, "main"), TableID: t.ID, Main: true, State: "associated"})
		}
		for _, sid := range t.subnets {
			x.Associations = append(x.Associations, routeAssocXML{ID: synthID("rtbassoc", n.acct.ID, t.region, t.ID, sid), TableID: t.ID, SubnetID: sid, State: "associated"})
		}
		out.Tables = append(out.Tables, x)
	}
	return out, nil
}

// assocMainValues are a table's association.main values: true for the main
// association, false for each explicit subnet association.
func assocMainValues(t *netTable) []string {
	var v []string
	if t.Main {
		v = append(v, "true")
	}
	if len(t.subnets) > 0 {
		v = append(v, "false")
	}
	return v
}

// ---- IAM (global: any region the request is signed for) ----

type iamRoleXML struct {
	Path       string `xml:"Path"`
	RoleName   string `xml:"RoleName"`
	RoleID     string `xml:"RoleId"`
	ARN        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
	TrustDoc   string `xml:"AssumeRolePolicyDocument"`
}

type iamProfileXML struct {
	Path       string `xml:"Path"`
	Name       string `xml:"InstanceProfileName"`
	ID         string `xml:"InstanceProfileId"`
	ARN        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
	Roles      struct {
		Members []iamRoleXML `xml:"member"`
	} `xml:"Roles"`
}

type getInstanceProfileResponse struct {
	XMLName   xml.Name      `xml:"https://iam.amazonaws.com/doc/2010-05-08/ GetInstanceProfileResponse"`
	Profile   iamProfileXML `xml:"GetInstanceProfileResult>InstanceProfile"`
	RequestID string        `xml:"ResponseMetadata>RequestId"`
}

type attachedPolicyXML struct {
	Name string `xml:"PolicyName"`
	ARN  string `xml:"PolicyArn"`
}

type listAttachedRolePoliciesResult struct {
	Policies struct {
		Members []attachedPolicyXML `xml:"member"`
	} `xml:"AttachedPolicies"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type listAttachedRolePoliciesResponse struct {
	XMLName   xml.Name                       `xml:"https://iam.amazonaws.com/doc/2010-05-08/ ListAttachedRolePoliciesResponse"`
	Result    listAttachedRolePoliciesResult `xml:"ListAttachedRolePoliciesResult"`
	RequestID string                         `xml:"ResponseMetadata>RequestId"`
}

// ec2TrustPolicy is the trust policy of every sandbox role: EC2 may assume it.
var ec2TrustPolicy = strings.ReplaceAll(url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`), "+", "%20")

func noSuchEntity(format string, args ...any) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "NoSuchEntity", Message: fmt.Sprintf(format, args...)}
}

// iamCreateDate is the creation date the sandbox reports for IAM entities.
var iamCreateDate = defaultLaunchTime.Add(-180 * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05Z")

func (a *apiServer) getInstanceProfile(r *APIRequest) (any, error) {
	name := r.Form.Get("InstanceProfileName")
	if name == "" {
		return nil, apiErr("ValidationError", "1 validation error detected: Value null at 'instanceProfileName' failed to satisfy constraint: Member must not be null")
	}
	n := a.net.account(r.Account)
	p, ok := InstanceProfile{}, false
	if n != nil {
		p, ok = n.profiles[name]
	}
	if !ok {
		return nil, noSuchEntity("Instance Profile %s cannot be found.", name)
	}
	acct := r.Account.ID
	out := getInstanceProfileResponse{RequestID: r.RequestID, Profile: iamProfileXML{
		Path: "/", Name: p.Name, ID: "AIPA" + strings.ToUpper(hashOf(acct+"/"+p.Name)),
		ARN: "arn:aws:iam::" + acct + ":instance-profile/" + p.Name, CreateDate: iamCreateDate,
	}}
	if p.Role != "" {
		out.Profile.Roles.Members = []iamRoleXML{{
			Path: "/", RoleName: p.Role, RoleID: "AROA" + strings.ToUpper(hashOf(acct+"/"+p.Role)),
			ARN: "arn:aws:iam::" + acct + ":role/" + p.Role, CreateDate: iamCreateDate, TrustDoc: ec2TrustPolicy,
		}}
	}
	return out, nil
}

func (a *apiServer) listAttachedRolePolicies(r *APIRequest) (any, error) {
	name := r.Form.Get("RoleName")
	if name == "" {
		return nil, apiErr("ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
	}
	maxItems := 100
	if s := r.Form.Get("MaxItems"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			return nil, apiErr("ValidationError", "1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000", s)
		}
		maxItems = v
	}
	n := a.net.account(r.Account)
	role, ok := Role{}, false
	if n != nil {
		role, ok = n.roles[name]
	}
	if !ok {
		return nil, noSuchEntity("The role with name %s cannot be found.", name)
	}
	prefix := r.Form.Get("PathPrefix")
	var all []attachedPolicyXML
	for _, entry := range role.Policies {
		arn, pname, path := policyARN(entry)
		if strings.HasPrefix(path, prefix) {
			all = append(all, attachedPolicyXML{Name: pname, ARN: arn})
		}
	}
	fh := hashOf([]string{r.Account.ID, name, prefix})
	offset := 0
	if m := r.Form.Get("Marker"); m != "" {
		if offset, ok = parsePageToken(m, fh); !ok || offset > len(all) {
			return nil, apiErr("ValidationError", "Invalid Marker.")
		}
	}
	end := min(offset+maxItems, len(all))
	out := listAttachedRolePoliciesResponse{RequestID: r.RequestID}
	out.Result.Policies.Members = all[offset:end]
	if end < len(all) {
		out.Result.IsTruncated, out.Result.Marker = true, pageToken(end, fh)
	}
	return out, nil
}
