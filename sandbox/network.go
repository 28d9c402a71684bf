package sandbox

// The network and IAM model `ssmtui doctor` diagnoses: VPCs, subnets, route
// tables, security groups, VPC endpoints, instance profiles and roles. The
// fleet file describes what matters for a case (account "network", instance
// "securityGroups" and "notManaged"); everything else an instance names is
// synthesized healthy, so fleets without a network keep answering like an
// account where Session Manager works. Schema: assets/README.md.

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Network is an account's VPC and IAM model. Every part is optional: VPCs,
// subnets and instance profiles named by the account's instances and not
// described here are synthesized healthy (see buildAccountNet).
type Network struct {
	VPCs             []VPC             `json:"vpcs,omitempty"`
	Subnets          []Subnet          `json:"subnets,omitempty"`
	RouteTables      []RouteTable      `json:"routeTables,omitempty"`
	SecurityGroups   []SecurityGroup   `json:"securityGroups,omitempty"`
	Endpoints        []VPCEndpoint     `json:"endpoints,omitempty"`
	InstanceProfiles []InstanceProfile `json:"instanceProfiles,omitempty"`
	Roles            []Role            `json:"roles,omitempty"`
}

// VPC is one VPC. DNSSupport and DNSHostnames default to true (a healthy
// VPC) when omitted; set them to false to model the fault.
type VPC struct {
	ID           string `json:"id"`     // vpc-…
	Region       string `json:"region"` // one of the account's regions
	CIDR         string `json:"cidr"`   // IPv4 CIDR, e.g. 10.70.0.0/16
	DNSSupport   *bool  `json:"dnsSupport,omitempty"`
	DNSHostnames *bool  `json:"dnsHostnames,omitempty"`
}

// Subnet is one subnet. Without RouteTableID it uses its VPC's main route
// table (and, as in AWS, has no explicit association).
type Subnet struct {
	ID               string `json:"id"`    // subnet-…
	VPCID            string `json:"vpcId"` // a VPC of network.vpcs or one an instance names
	CIDR             string `json:"cidr"`
	AvailabilityZone string `json:"availabilityZone,omitempty"` // default <region>a
	RouteTableID     string `json:"routeTableId,omitempty"`     // explicit association
}

// RouteTable is one route table. Main marks the VPC's main table (at most
// one per VPC; a local-only main table is synthesized when none is given).
type RouteTable struct {
	ID     string  `json:"id"` // rtb-…
	VPCID  string  `json:"vpcId"`
	Main   bool    `json:"main,omitempty"`
	Routes []Route `json:"routes,omitempty"`
}

// Route is one route: Destination is an IPv4 CIDR; Target is "local" or an
// igw-, nat-, tgw-, pcx- or eni- ID.
type Route struct {
	Destination string `json:"destination"`
	Target      string `json:"target"`
}

// SecurityGroup is one security group with its rules.
type SecurityGroup struct {
	ID          string   `json:"id"` // sg-…
	VPCID       string   `json:"vpcId"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Ingress     []SGRule `json:"ingress,omitempty"`
	Egress      []SGRule `json:"egress,omitempty"`
}

// SGRule is one permission: Protocol is tcp, udp, icmp or -1 (all; ports
// are ignored), the ports an inclusive range, and the sources (ingress) or
// destinations (egress) CIDRs and security group IDs.
type SGRule struct {
	Protocol string   `json:"protocol"`
	FromPort *int     `json:"fromPort,omitempty"`
	ToPort   *int     `json:"toPort,omitempty"`
	CIDRs    []string `json:"cidrs,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// VPCEndpoint is one VPC endpoint. Service is the short service name (ssm,
// ssmmessages, ec2messages, s3, …); s3 and dynamodb endpoints are Gateway
// endpoints, every other one Interface. PrivateDNS defaults to true for
// Interface endpoints (as AWS creates them); an Interface endpoint without
// SecurityGroups gets its VPC's default group, as in AWS.
type VPCEndpoint struct {
	ID             string   `json:"id"` // vpce-…
	VPCID          string   `json:"vpcId"`
	Service        string   `json:"service"`
	PrivateDNS     *bool    `json:"privateDns,omitempty"`
	Subnets        []string `json:"subnets,omitempty"`
	SecurityGroups []string `json:"securityGroups,omitempty"`
}

// InstanceProfile is one IAM instance profile; Role is empty for a profile
// without a role.
type InstanceProfile struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// Role is one IAM role with its attached managed policies: AWS managed
// policy names (AmazonSSMManagedInstanceCore, service-role/AmazonEC2RoleforSSM)
// or full policy ARNs.
type Role struct {
	Name     string   `json:"name"`
	Policies []string `json:"policies,omitempty"`
}

// ssmCorePolicy is the managed policy every synthesized role carries.
const ssmCorePolicy = "AmazonSSMManagedInstanceCore"

// ---- the resolved model ----

type netVPC struct {
	VPC
	dnsSupport, dnsHostnames bool
	mainTable                string // the main route table's ID
	defaultSG                string // the group named default
}

type netSubnet struct {
	Subnet
	region   string
	table    string // effective route table: the associated one or the main one
	explicit bool   // table is an explicit association
	synth    bool
	used     int // instances in it
}

type netTable struct {
	RouteTable
	region  string
	subnets []string // explicitly associated subnets
}

type netGroup struct {
	SecurityGroup
	region string
}

type netEndpoint struct {
	VPCEndpoint
	region     string
	typ        string // Interface | Gateway
	privateDNS bool
}

// acctNet is one account's resolved network: explicit entries first, then
// the synthesized ones, each in fleet order.
type acctNet struct {
	acct       *Account
	vpcs       []*netVPC
	subnets    []*netSubnet
	tables     []*netTable
	groups     []*netGroup
	endpoints  []*netEndpoint
	profiles   map[string]InstanceProfile
	roles      map[string]Role
	instGroups map[*Instance][]string // security group IDs of each EC2 instance

	vpcByKey    map[string]*netVPC // region/id
	subnetByKey map[string]*netSubnet
	tableByKey  map[string]*netTable
	groupByKey  map[string]*netGroup
}

// networkModel is every account's resolved network, built once at Start:
// the fleet does not change while the sandbox runs.
type networkModel struct {
	accounts map[*Account]*acctNet
}

func netKey(region, id string) string { return region + "/" + id }

// synthID is a deterministic resource ID: prefix-0 plus 16 hex digits of a
// hash of parts (account, region, VPC, …).
func synthID(prefix string, parts ...string) string {
	return fmt.Sprintf("%s-0%016x", prefix, fnv64(strings.Join(parts, "\x00")))
}

// newNetworkModel resolves every account's network. Inconsistencies a
// validated fleet cannot have are skipped and returned.
func newNetworkModel(f *Fleet) (*networkModel, []error) {
	m := &networkModel{accounts: make(map[*Account]*acctNet, len(f.Accounts))}
	var errs []error
	for i := range f.Accounts {
		n, e := buildAccountNet(&f.Accounts[i])
		m.accounts[&f.Accounts[i]] = n
		errs = append(errs, e...)
	}
	return m, errs
}

// account returns acct's network; nil-safe (a zero apiServer has no model).
func (m *networkModel) account(acct *Account) *acctNet {
	if m == nil {
		return nil
	}
	return m.accounts[acct]
}

// instanceGroups returns the security groups of an EC2 instance as
// DescribeInstances shows them, or nil without a model.
func (m *networkModel) instanceGroups(acct *Account, in *Instance) []ec2Group {
	n := m.account(acct)
	if n == nil {
		return nil
	}
	ids, ok := n.instGroups[in]
	if !ok {
		return nil
	}
	out := make([]ec2Group, 0, len(ids))
	for _, id := range ids {
		g := ec2Group{GroupID: id}
		if sg := n.groupByKey[netKey(in.Region, id)]; sg != nil {
			g.GroupName = sg.Name
		}
		out = append(out, g)
	}
	return out
}

func validCIDR(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	return p.Masked(), err == nil && p.Addr().Is4()
}

// defaultVPCCIDR is 10.N.0.0/16 around a 10.x private IP, else 10.0.0.0/16.
func defaultVPCCIDR(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() && a.As4()[0] == 10 {
		return fmt.Sprintf("10.%d.0.0/16", a.As4()[1])
	}
	return "10.0.0.0/16"
}

// defaultSubnetCIDR is the /24 around the private IP, or the VPC's first /24.
func defaultSubnetCIDR(ip, vpcCIDR string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
		p, _ := a.Prefix(24)
		return p.String()
	}
	if p, ok := validCIDR(vpcCIDR); ok {
		q, _ := p.Addr().Prefix(24)
		return q.String()
	}
	return "10.0.0.0/24"
}

var routeTargetPrefixes = []string{"igw-", "nat-", "tgw-", "pcx-", "eni-"}

func validRouteTarget(t string) bool {
	if t == "local" {
		return true
	}
	return slices.ContainsFunc(routeTargetPrefixes, func(p string) bool { return strings.HasPrefix(t, p) && len(t) > len(p) })
}

// normProtocol maps a rule protocol to the form EC2 answers (-1 for all).
func normProtocol(p string) (string, bool) {
	switch strings.ToLower(p) {
	case "-1", "all":
		return "-1", true
	case "tcp", "udp", "icmp", "icmpv6":
		return strings.ToLower(p), true
	}
	n, err := strconv.Atoi(p)
	return p, err == nil && n >= 0 && n <= 255
}

// buildAccountNet resolves an account's network: explicit entries checked
// and indexed, then defaults synthesized for whatever the instances name.
// It returns every inconsistency it skipped.
func buildAccountNet(a *Account) (*acctNet, []error) {
	n := &acctNet{
		acct: a, profiles: map[string]InstanceProfile{}, roles: map[string]Role{}, instGroups: map[*Instance][]string{},
		vpcByKey: map[string]*netVPC{}, subnetByKey: map[string]*netSubnet{}, tableByKey: map[string]*netTable{}, groupByKey: map[string]*netGroup{},
	}
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("fleet: account %s: network: "+format, append([]any{a.ID}, args...)...))
	}
	var nw Network
	if a.Network != nil {
		nw = *a.Network
	}

	// VPCs: explicit, then one per (region, vpcId) an EC2 instance names.
	for _, v := range nw.VPCs {
		if !strings.HasPrefix(v.ID, "vpc-") {
			fail("vpc %q: id must start with vpc-", v.ID)
			continue
		}
		if !a.RegionEnabled(v.Region) {
			fail("vpc %s: region %q not enabled for the account", v.ID, v.Region)
			continue
		}
		p, ok := validCIDR(v.CIDR)
		if !ok {
			fail("vpc %s: cidr %q is not an IPv4 CIDR", v.ID, v.CIDR)
			continue
		}
		if n.vpcByKey[netKey(v.Region, v.ID)] != nil {
			fail("vpc %s defined twice in %s", v.ID, v.Region)
			continue
		}
		nv := &netVPC{VPC: v, dnsSupport: v.DNSSupport == nil || *v.DNSSupport, dnsHostnames: v.DNSHostnames == nil || *v.DNSHostnames}
		nv.CIDR = p.String()
		n.vpcs = append(n.vpcs, nv)
		n.vpcByKey[netKey(v.Region, v.ID)] = nv
	}
	ec2 := func(yield func(*Instance) bool) {
		for i := range a.Instances {
			if in := &a.Instances[i]; !in.Managed() && in.VPCID != "" {
				if !yield(in) {
					return
				}
			}
		}
	}
	for in := range ec2 {
		if n.vpcByKey[netKey(in.Region, in.VPCID)] == nil {
			nv := &netVPC{VPC: VPC{ID: in.VPCID, Region: in.Region, CIDR: defaultVPCCIDR(in.PrivateIP)}, dnsSupport: true, dnsHostnames: true}
			n.vpcs = append(n.vpcs, nv)
			n.vpcByKey[netKey(in.Region, in.VPCID)] = nv
		}
	}
	// resolveVPC finds the one VPC an entry without a region names.
	resolveVPC := func(what, vpcID string) *netVPC {
		var found *netVPC
		for _, v := range n.vpcs {
			if v.ID != vpcID {
				continue
			}
			if found != nil {
				fail("%s: vpc %s exists in %s and %s; describe it in network.vpcs only once", what, vpcID, found.Region, v.Region)
				return nil
			}
			found = v
		}
		if found == nil {
			fail("%s: vpc %q is neither in network.vpcs nor named by an instance", what, vpcID)
		}
		return found
	}
	// member checks an entry's ID prefix and finds its VPC; nil (reported)
	// when either is wrong.
	member := func(kind, id, prefix, vpcID string) *netVPC {
		if !strings.HasPrefix(id, prefix) {
			fail("%s %q: id must start with %s", kind, id, prefix)
			return nil
		}
		return resolveVPC(kind+" "+id, vpcID)
	}

	// Route tables.
	for _, t := range nw.RouteTables {
		v := member("route table", t.ID, "rtb-", t.VPCID)
		if v == nil {
			continue
		}
		if n.tableByKey[netKey(v.Region, t.ID)] != nil {
			fail("route table %s defined twice", t.ID)
			continue
		}
		ok := true
		for _, r := range t.Routes {
			if _, good := validCIDR(r.Destination); !good {
				fail("route table %s: destination %q is not an IPv4 CIDR", t.ID, r.Destination)
				ok = false
			}
			if !validRouteTarget(r.Target) {
				fail("route table %s: target %q must be local or an igw-, nat-, tgw-, pcx- or eni- ID", t.ID, r.Target)
				ok = false
			}
		}
		if t.Main {
			if v.mainTable != "" {
				fail("route table %s: vpc %s already has main table %s", t.ID, v.ID, v.mainTable)
				ok = false
			} else {
				v.mainTable = t.ID
			}
		}
		if !ok {
			continue
		}
		nt := &netTable{RouteTable: t, region: v.Region}
		n.tables = append(n.tables, nt)
		n.tableByKey[netKey(v.Region, t.ID)] = nt
	}

	// Subnets: explicit, then one per (region, subnetId) an instance names,
	// routed out through a synthesized public (internet gateway) or private
	// (NAT gateway) table.
	for _, s := range nw.Subnets {
		v := member("subnet", s.ID, "subnet-", s.VPCID)
		if v == nil {
			continue
		}
		p, ok := validCIDR(s.CIDR)
		if !ok {
			fail("subnet %s: cidr %q is not an IPv4 CIDR", s.ID, s.CIDR)
			continue
		}
		if n.subnetByKey[netKey(v.Region, s.ID)] != nil {
			fail("subnet %s defined twice", s.ID)
			continue
		}
		ns := &netSubnet{Subnet: s, region: v.Region}
		ns.CIDR = p.String()
		if ns.AvailabilityZone == "" {
			ns.AvailabilityZone = v.Region + "a"
		}
		if s.RouteTableID != "" {
			t := n.tableByKey[netKey(v.Region, s.RouteTableID)]
			if t == nil || t.VPCID != v.ID {
				fail("subnet %s: route table %q is not a table of vpc %s", s.ID, s.RouteTableID, v.ID)
				continue
			}
			ns.table, ns.explicit = t.ID, true
			t.subnets = append(t.subnets, s.ID)
		}
		n.subnets = append(n.subnets, ns)
		n.subnetByKey[netKey(v.Region, s.ID)] = ns
	}
	// A synthesized subnet is public (0.0.0.0/0 to an internet gateway)
	// when one of its instances has a public IP, else private behind a NAT
	// gateway: either way healthy, as a fleet without a network should be.
	public := map[string]bool{}
	for in := range ec2 {
		if in.PublicIP != "" {
			public[netKey(in.Region, in.SubnetID)] = true
		}
	}
	for in := range ec2 {
		if in.SubnetID == "" {
			continue
		}
		if s := n.subnetByKey[netKey(in.Region, in.SubnetID)]; s != nil {
			if s.VPCID != in.VPCID {
				fail("instance %s: subnet %s belongs to vpc %s, not %s", in.ID, in.SubnetID, s.VPCID, in.VPCID)
			}
			s.used++
			continue
		}
		v := n.vpcByKey[netKey(in.Region, in.VPCID)]
		kind, gw := "public", synthID("igw", a.ID, in.Region, in.VPCID)
		if !public[netKey(in.Region, in.SubnetID)] {
			kind, gw = "private", synthID("nat", a.ID, in.Region, in.VPCID)
		}
		pub := synthID("rtb", a.ID, in.Region, in.VPCID, kind)
		t := n.tableByKey[netKey(in.Region, pub)]
		if t == nil {
			t = &netTable{region: in.Region, RouteTable: RouteTable{ID: pub, VPCID: v.ID, Routes: []Route{
				{Destination: v.CIDR, Target: "local"},
				{Destination: "0.0.0.0/0", Target: gw},
			}}}
			n.tables = append(n.tables, t)
			n.tableByKey[netKey(in.Region, pub)] = t
		}
		t.subnets = append(t.subnets, in.SubnetID)
		ns := &netSubnet{region: in.Region, table: pub, explicit: true, synth: true, used: 1, Subnet: Subnet{
			ID: in.SubnetID, VPCID: in.VPCID, CIDR: defaultSubnetCIDR(in.PrivateIP, v.CIDR), AvailabilityZone: in.az(), RouteTableID: pub,
		}}
		n.subnets = append(n.subnets, ns)
		n.subnetByKey[netKey(in.Region, in.SubnetID)] = ns
	}
	// Main tables: a local-only one for every VPC that has none.
	for _, v := range n.vpcs {
		if v.mainTable == "" {
			id := synthID("rtb", a.ID, v.Region, v.ID, "main")
			t := &netTable{region: v.Region, RouteTable: RouteTable{ID: id, VPCID: v.ID, Main: true, Routes: []Route{{Destination: v.CIDR, Target: "local"}}}}
			n.tables = append(n.tables, t)
			n.tableByKey[netKey(v.Region, id)] = t
			v.mainTable = id
		}
	}
	for _, s := range n.subnets {
		if s.table == "" {
			s.table = n.vpcByKey[netKey(s.region, s.VPCID)].mainTable
		}
	}

	// Security groups: explicit, then a default group per VPC without one.
	for _, g := range nw.SecurityGroups {
		v := member("security group", g.ID, "sg-", g.VPCID)
		if v == nil {
			continue
		}
		if g.Name == "" {
			fail("security group %s: name is required", g.ID)
			continue
		}
		if n.groupByKey[netKey(v.Region, g.ID)] != nil {
			fail("security group %s defined twice", g.ID)
			continue
		}
		ng := &netGroup{SecurityGroup: g, region: v.Region}
		ng.Ingress, ng.Egress = slices.Clone(g.Ingress), slices.Clone(g.Egress)
		ok := true
		for _, rules := range [][]SGRule{ng.Ingress, ng.Egress} {
			for i := range rules {
				r := &rules[i]
				p, good := normProtocol(r.Protocol)
				if !good {
					fail("security group %s: protocol %q must be tcp, udp, icmp, -1 or a number", g.ID, r.Protocol)
					ok = false
				}
				r.Protocol = p
				if (p == "tcp" || p == "udp") && (r.FromPort == nil || r.ToPort == nil || *r.FromPort < 0 || *r.ToPort > 65535 || *r.FromPort > *r.ToPort) {
					fail("security group %s: a %s rule needs fromPort <= toPort within 0-65535", g.ID, p)
					ok = false
				}
				if len(r.CIDRs) == 0 && len(r.Groups) == 0 {
					fail("security group %s: a rule needs cidrs or groups", g.ID)
					ok = false
				}
				for _, c := range r.CIDRs {
					if _, good := validCIDR(c); !good {
						fail("security group %s: %q is not an IPv4 CIDR", g.ID, c)
						ok = false
					}
				}
			}
		}
		if !ok {
			continue
		}
		if g.Name == "default" && v.defaultSG == "" {
			v.defaultSG = g.ID
		}
		n.groups = append(n.groups, ng)
		n.groupByKey[netKey(v.Region, g.ID)] = ng
	}
	for _, v := range n.vpcs {
		if v.defaultSG != "" {
			continue
		}
		id := synthID("sg", a.ID, v.Region, v.ID, "default")
		g := &netGroup{region: v.Region, SecurityGroup: SecurityGroup{
			ID: id, VPCID: v.ID, Name: "default", Description: "default VPC security group",
			Ingress: []SGRule{{Protocol: "-1", Groups: []string{id}}},
			Egress:  []SGRule{{Protocol: "-1", CIDRs: []string{"0.0.0.0/0"}}},
		}}
		n.groups = append(n.groups, g)
		n.groupByKey[netKey(v.Region, id)] = g
		v.defaultSG = id
	}
	for _, g := range n.groups {
		for _, r := range slices.Concat(g.Ingress, g.Egress) {
			for _, ref := range r.Groups {
				if n.groupByKey[netKey(g.region, ref)] == nil {
					fail("security group %s: rule names unknown group %s", g.ID, ref)
				}
			}
		}
	}
	// groupInVPC checks that every ID is a group of vpc v.
	groupsInVPC := func(what string, v *netVPC, ids []string) bool {
		for _, id := range ids {
			if g := n.groupByKey[netKey(v.Region, id)]; g == nil || g.VPCID != v.ID {
				fail("%s: security group %q is not a group of vpc %s", what, id, v.ID)
				return false
			}
		}
		return true
	}

	// Endpoints.
	for _, e := range nw.Endpoints {
		v := member("endpoint", e.ID, "vpce-", e.VPCID)
		if v == nil {
			continue
		}
		if e.Service == "" || strings.Trim(e.Service, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
			fail("endpoint %s: service %q must be a short service name such as ssm", e.ID, e.Service)
			continue
		}
		ok := groupsInVPC("endpoint "+e.ID, v, e.SecurityGroups)
		for _, sid := range e.Subnets {
			if s := n.subnetByKey[netKey(v.Region, sid)]; s == nil || s.VPCID != v.ID {
				fail("endpoint %s: subnet %q is not a subnet of vpc %s", e.ID, sid, v.ID)
				ok = false
			}
		}
		if !ok {
			continue
		}
		ne := &netEndpoint{VPCEndpoint: e, region: v.Region, typ: "Interface"}
		short := e.Service[strings.LastIndexByte(e.Service, '.')+1:]
		if short == "s3" || short == "dynamodb" {
			ne.typ = "Gateway"
		} else {
			ne.privateDNS = e.PrivateDNS == nil || *e.PrivateDNS
			if len(ne.SecurityGroups) == 0 {
				ne.SecurityGroups = []string{v.defaultSG}
			}
		}
		n.endpoints = append(n.endpoints, ne)
	}

	// Instances' security groups.
	for in := range ec2 {
		v := n.vpcByKey[netKey(in.Region, in.VPCID)]
		if len(in.SecurityGroups) == 0 {
			n.instGroups[in] = []string{v.defaultSG}
			continue
		}
		if groupsInVPC("instance "+in.ID, v, in.SecurityGroups) {
			n.instGroups[in] = slices.Clone(in.SecurityGroups)
		}
	}
	for i := range a.Instances {
		if in := &a.Instances[i]; len(in.SecurityGroups) > 0 && (in.Managed() || in.VPCID == "") {
			fail("instance %s: securityGroups need an EC2 instance with a vpcId", in.ID)
		}
	}

	// IAM: explicit roles and profiles, then <profile>-role with the SSM
	// core policy for every profile an instance names.
	for _, r := range nw.Roles {
		if r.Name == "" || n.roles[r.Name].Name != "" {
			fail("role %q: name empty or defined twice", r.Name)
			continue
		}
		if slices.Contains(r.Policies, "") {
			fail("role %s: empty policy name", r.Name)
			continue
		}
		n.roles[r.Name] = r
	}
	for _, p := range nw.InstanceProfiles {
		if p.Name == "" || n.profiles[p.Name].Name != "" {
			fail("instance profile %q: name empty or defined twice", p.Name)
			continue
		}
		if p.Role != "" && n.roles[p.Role].Name == "" {
			fail("instance profile %s: role %s is not in network.roles", p.Name, p.Role)
			continue
		}
		n.profiles[p.Name] = p
	}
	for i := range a.Instances {
		in := &a.Instances[i]
		if in.Managed() || in.InstanceProfile == "" || n.profiles[in.InstanceProfile].Name != "" {
			continue
		}
		p := InstanceProfile{Name: in.InstanceProfile, Role: in.InstanceProfile + "-role"}
		n.profiles[p.Name] = p
		if n.roles[p.Role].Name == "" {
			n.roles[p.Role] = Role{Name: p.Role, Policies: []string{ssmCorePolicy}}
		}
	}
	return n, errs
}

// validateNetwork reports the first inconsistency of an account's network
// model (Fleet.Validate).
func (a *Account) validateNetwork() error {
	_, errs := buildAccountNet(a)
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// policyARN returns the ARN, name and path of an attached policy entry: an
// AWS managed policy name (optionally with a path such as service-role/)
// or a full ARN.
func policyARN(entry string) (arn, name, path string) {
	arn = entry
	if !strings.HasPrefix(entry, "arn:") {
		arn = "arn:aws:iam::aws:policy/" + strings.TrimPrefix(entry, "/")
	}
	i := strings.Index(arn, ":policy/")
	if i < 0 {
		return arn, arn[strings.LastIndexAny(arn, ":/")+1:], "/"
	}
	rest := arn[i+len(":policy"):] // /path/name
	j := strings.LastIndexByte(rest, '/')
	return arn, rest[j+1:], rest[:j+1]
}
