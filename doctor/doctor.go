// Package doctor explains why an EC2 instance is missing from Session
// Manager or cannot be reached: the instance's state, its registration and
// agent, its instance profile and the role's policy, the network path to
// Systems Manager (a route out, or the ssm, ssmmessages and ec2messages VPC
// endpoints), the VPC's DNS attributes and the security groups on both
// ends. Every check says what it found and, when it fails, the next step.
package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

// Status is the outcome of one check.
type Status int

const (
	OK      Status = iota // nothing to do
	Warn                  // works, but worth fixing
	Fail                  // a reason the instance is missing or unreachable
	Unknown               // could not be checked (access denied, …)
)

// String is the status's lower-case name.
func (s Status) String() string {
	if s < OK || s > Unknown {
		return fmt.Sprintf("Status(%d)", int(s))
	}
	return [...]string{"ok", "warn", "fail", "unknown"}[s]
}

// Check is one finding.
type Check struct {
	Name   string
	Status Status
	Detail string // what was found
	Fix    string // the next step; empty when there is nothing to do
}

// Report is the diagnosis of one instance.
type Report struct {
	InstanceID string
	Name       string
	Region     string
	Checks     []Check
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Status == Fail })
}

// EC2API is the part of *ec2.Client doctor uses.
type EC2API interface {
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeVpcEndpoints(context.Context, *ec2.DescribeVpcEndpointsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error)
	DescribeVpcAttribute(context.Context, *ec2.DescribeVpcAttributeInput, ...func(*ec2.Options)) (*ec2.DescribeVpcAttributeOutput, error)
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	DescribeSubnets(context.Context, *ec2.DescribeSubnetsInput, ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	DescribeRouteTables(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
}

// SSMAPI is the part of *ssm.Client doctor uses.
type SSMAPI interface {
	DescribeInstanceInformation(context.Context, *ssm.DescribeInstanceInformationInput, ...func(*ssm.Options)) (*ssm.DescribeInstanceInformationOutput, error)
}

// IAMAPI is the part of *iam.Client doctor uses.
type IAMAPI interface {
	GetInstanceProfile(context.Context, *iam.GetInstanceProfileInput, ...func(*iam.Options)) (*iam.GetInstanceProfileOutput, error)
	ListAttachedRolePolicies(context.Context, *iam.ListAttachedRolePoliciesInput, ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
}

// Clients are the region's EC2 and SSM clients and the (global) IAM client.
type Clients struct {
	EC2 EC2API
	SSM SSMAPI
	IAM IAMAPI
	// Region names the endpoint services (com.amazonaws.<region>.ssm).
	Region string
	// Now is the clock for "last ping … ago"; nil means time.Now.
	Now func() time.Time
}

// The managed policy Session Manager needs on the instance role, and the
// deprecated one that still works.
const (
	corePolicy       = "AmazonSSMManagedInstanceCore"
	deprecatedPolicy = "AmazonEC2RoleforSSM"
)

// endpointServices are the interface endpoints a subnet without a route
// out needs.
var endpointServices = []string{"ssm", "ssmmessages", "ec2messages"}

// Diagnose runs every check for instanceID. It fails only when the instance
// cannot be described at all; a check that cannot run is Unknown.
func Diagnose(ctx context.Context, c Clients, instanceID string) (*Report, error) {
	if c.Now == nil {
		c.Now = time.Now
	}
	out, err := c.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if err != nil {
		return nil, fmt.Errorf("describe instance %s: %w", instanceID, err)
	}
	var inst *ec2types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			inst = &r.Instances[i]
		}
	}
	if inst == nil {
		return nil, fmt.Errorf("describe instance %s: not found in %s", instanceID, c.Region)
	}
	d := &diagnosis{c: c, ctx: ctx, inst: inst, rep: &Report{InstanceID: instanceID, Region: c.Region, Name: tag(inst.Tags, "Name")}}
	d.state()
	d.registration()
	d.instanceProfile()
	d.network()
	if d.online {
		// The agent reaches Systems Manager, so the network evidently
		// works in a way these checks do not see (an HTTPS proxy, a
		// firewall appliance): report, but do not fail.
		for i := range d.rep.Checks {
			if c := &d.rep.Checks[i]; c.Status == Fail && networkCheck[c.Name] {
				c.Status = Warn
				c.Detail += " (yet the agent is online: something these checks do not see carries its traffic, such as a proxy)"
			}
		}
	}
	return d.rep, nil
}

// networkCheck names the checks an online agent proves moot.
var networkCheck = map[string]bool{
	"route to Systems Manager": true, "VPC DNS": true, "endpoint security groups": true, "instance security groups": true,
}

type diagnosis struct {
	c    Clients
	ctx  context.Context
	inst *ec2types.Instance
	rep  *Report

	instanceSGs []ec2types.SecurityGroup
	online      bool // the agent pings Systems Manager
}

func (d *diagnosis) add(name string, s Status, detail, fix string) {
	d.rep.Checks = append(d.rep.Checks, Check{Name: name, Status: s, Detail: detail, Fix: fix})
}

// unknown records a check that an API error stopped.
func (d *diagnosis) unknown(name, action string, err error) {
	var ae smithy.APIError
	if errors.As(err, &ae) && isDenied(ae.ErrorCode()) {
		d.add(name, Unknown, fmt.Sprintf("not allowed to call %s (%s)", action, ae.ErrorCode()),
			fmt.Sprintf("run doctor with credentials that may call %s", action))
		return
	}
	d.add(name, Unknown, fmt.Sprintf("%s failed: %v", action, err), "")
}

func isDenied(code string) bool {
	return code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation"
}

func (d *diagnosis) state() {
	in := d.inst
	state := ""
	if in.State != nil {
		state = string(in.State.Name)
	}
	detail := fmt.Sprintf("%s, %s in %s", cmp.Or(state, "unknown state"), in.InstanceType, aws.ToString(in.SubnetId))
	switch state {
	case "running":
		d.add("EC2 instance", OK, detail, "")
	case "stopped", "stopping":
		d.add("EC2 instance", Fail, detail, fmt.Sprintf("start it: aws ec2 start-instances --instance-ids %s", d.rep.InstanceID))
	default:
		d.add("EC2 instance", Fail, detail, "only running instances can be reached")
	}
}

func (d *diagnosis) registration() {
	out, err := d.c.SSM.DescribeInstanceInformation(d.ctx, &ssm.DescribeInstanceInformationInput{
		Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: []string{d.rep.InstanceID}}},
	})
	if err != nil {
		d.unknown("Systems Manager", "ssm:DescribeInstanceInformation", err)
		return
	}
	if len(out.InstanceInformationList) == 0 {
		d.add("Systems Manager", Fail, "not registered: the SSM agent on it has never reached Systems Manager",
			"fix what the checks below find; then the agent registers within minutes (or restart it: sudo systemctl restart amazon-ssm-agent)")
		return
	}
	info := out.InstanceInformationList[0]
	ago := d.c.Now().Sub(aws.ToTime(info.LastPingDateTime)).Round(time.Second)
	detail := fmt.Sprintf("agent %s, %s, last ping %v ago", aws.ToString(info.AgentVersion), info.PingStatus, ago)
	switch {
	case info.PingStatus != ssmtypes.PingStatusOnline:
		d.add("Systems Manager", Fail, detail, "the agent stopped reporting: check it runs (sudo systemctl status amazon-ssm-agent) and the checks below")
	case !aws.ToBool(info.IsLatestVersion):
		d.add("Systems Manager", Warn, detail+" (not the latest agent)", "update the agent: aws ssm send-command --document-name AWS-UpdateSSMAgent --instance-ids "+d.rep.InstanceID)
	default:
		d.add("Systems Manager", OK, detail, "")
	}
	d.online = info.PingStatus == ssmtypes.PingStatusOnline
}

func (d *diagnosis) instanceProfile() {
	p := d.inst.IamInstanceProfile
	if p == nil || aws.ToString(p.Arn) == "" {
		d.add("instance profile", Fail, "none attached: the agent has no credentials to reach Systems Manager",
			fmt.Sprintf("attach a profile whose role has %s: aws ec2 associate-iam-instance-profile --instance-id %s --iam-instance-profile Name=PROFILE "+
				"(or turn on Default Host Management Configuration)", corePolicy, d.rep.InstanceID))
		return
	}
	arn := aws.ToString(p.Arn)
	name := arn[strings.LastIndexByte(arn, '/')+1:]
	out, err := d.c.IAM.GetInstanceProfile(d.ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(name)})
	if err != nil {
		d.unknown("instance profile", "iam:GetInstanceProfile", err)
		return
	}
	if out.InstanceProfile == nil || len(out.InstanceProfile.Roles) == 0 {
		d.add("instance profile", Fail, fmt.Sprintf("%s has no role", name),
			fmt.Sprintf("add a role with %s: aws iam add-role-to-instance-profile --instance-profile-name %s --role-name ROLE", corePolicy, name))
		return
	}
	role := aws.ToString(out.InstanceProfile.Roles[0].RoleName)
	d.add("instance profile", OK, fmt.Sprintf("%s, role %s", name, role), "")

	var policies []string
	in := &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(role)}
	for {
		page, err := d.c.IAM.ListAttachedRolePolicies(d.ctx, in)
		if err != nil {
			d.unknown("role policy", "iam:ListAttachedRolePolicies", err)
			return
		}
		for _, ap := range page.AttachedPolicies {
			policies = append(policies, aws.ToString(ap.PolicyName))
		}
		if !page.IsTruncated || page.Marker == nil {
			break
		}
		in.Marker = page.Marker
	}
	attach := fmt.Sprintf("aws iam attach-role-policy --role-name %s --policy-arn arn:aws:iam::aws:policy/%s", role, corePolicy)
	switch {
	case slices.Contains(policies, corePolicy):
		d.add("role policy", OK, fmt.Sprintf("%s has %s", role, corePolicy), "")
	case slices.Contains(policies, deprecatedPolicy):
		d.add("role policy", Warn, fmt.Sprintf("%s has the deprecated %s", role, deprecatedPolicy), "replace it: "+attach)
	default:
		have := "no managed policies"
		if len(policies) > 0 {
			have = strings.Join(policies, ", ")
		}
		d.add("role policy", Fail, fmt.Sprintf("%s lacks %s (has %s; inline policies are not checked)", role, corePolicy, have), attach)
	}
}

// network checks the path from the instance to Systems Manager.
func (d *diagnosis) network() {
	vpc, subnet := aws.ToString(d.inst.VpcId), aws.ToString(d.inst.SubnetId)
	if vpc == "" || subnet == "" {
		d.add("network", Unknown, "the instance reports no VPC or subnet", "")
		return
	}
	route, routeOK := d.routeOut(vpc, subnet)
	eps, err := d.endpoints(vpc)
	if err != nil {
		d.unknown("VPC endpoints", "ec2:DescribeVpcEndpoints", err)
		return
	}
	var missing []string
	for _, s := range endpointServices {
		if _, ok := eps[s]; !ok {
			missing = append(missing, s)
		}
	}
	useEndpoints := len(missing) < len(endpointServices)
	switch {
	case len(missing) == 0:
		d.add("route to Systems Manager", OK, fmt.Sprintf("VPC endpoints for %s in %s", strings.Join(endpointServices, ", "), vpc), "")
	case routeOK && !useEndpoints:
		d.add("route to Systems Manager", OK, route, "")
	case routeOK:
		d.add("route to Systems Manager", Warn, fmt.Sprintf("%s, but only some endpoints exist (missing %s): their private DNS sends that traffic to the endpoints", route, strings.Join(missing, ", ")),
			fmt.Sprintf("create the missing interface endpoints (%s) or remove the others", d.serviceNames(missing)))
	default:
		d.add("route to Systems Manager", Fail, fmt.Sprintf("%s, and no VPC endpoints for %s", route, strings.Join(missing, ", ")),
			fmt.Sprintf("create interface endpoints with private DNS in %s for %s (aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --private-dns-enabled …), or route 0.0.0.0/0 through a NAT gateway",
				vpc, d.serviceNames(missing)))
	}
	d.loadInstanceSGs()
	if useEndpoints {
		d.endpointDNS(vpc, eps)
		d.endpointSecurityGroups(eps)
		d.egress(true)
	} else if routeOK {
		d.egress(false)
	}
}

func (d *diagnosis) serviceNames(short []string) string {
	out := make([]string, len(short))
	for i, s := range short {
		out[i] = "com.amazonaws." + d.c.Region + "." + s
	}
	return strings.Join(out, ", ")
}

// routeOut describes the subnet's default route and whether it reaches
// Systems Manager's public endpoints.
func (d *diagnosis) routeOut(vpc, subnet string) (string, bool) {
	out, err := d.c.EC2.DescribeRouteTables(d.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("association.subnet-id"), Values: []string{subnet}}}})
	if err == nil && len(out.RouteTables) == 0 {
		out, err = d.c.EC2.DescribeRouteTables(d.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
	}
	if err != nil {
		d.unknown("route table", "ec2:DescribeRouteTables", err)
		return "route table unknown", false
	}
	if len(out.RouteTables) == 0 {
		return fmt.Sprintf("subnet %s has no route table", subnet), false
	}
	rt := out.RouteTables[0]
	id := aws.ToString(rt.RouteTableId)
	for _, r := range rt.Routes {
		if aws.ToString(r.DestinationCidrBlock) != "0.0.0.0/0" {
			continue
		}
		switch gw := aws.ToString(r.GatewayId); {
		case strings.HasPrefix(gw, "igw-"):
			if aws.ToString(d.inst.PublicIpAddress) == "" {
				return fmt.Sprintf("%s sends 0.0.0.0/0 to %s, but the instance has no public IP", id, gw), false
			}
			return fmt.Sprintf("internet gateway %s (route table %s)", gw, id), true
		case aws.ToString(r.NatGatewayId) != "":
			return fmt.Sprintf("NAT gateway %s (route table %s)", aws.ToString(r.NatGatewayId), id), true
		case aws.ToString(r.TransitGatewayId) != "":
			return fmt.Sprintf("transit gateway %s (route table %s; its far side must reach Systems Manager)", aws.ToString(r.TransitGatewayId), id), true
		case aws.ToString(r.NetworkInterfaceId) != "":
			return fmt.Sprintf("network interface %s (route table %s)", aws.ToString(r.NetworkInterfaceId), id), true
		}
	}
	return fmt.Sprintf("private subnet %s (route table %s has no 0.0.0.0/0 route)", subnet, id), false
}

// endpoints returns the available ssm/ssmmessages/ec2messages endpoints of
// the VPC by short service name.
func (d *diagnosis) endpoints(vpc string) (map[string]ec2types.VpcEndpoint, error) {
	names := make([]string, len(endpointServices))
	for i, s := range endpointServices {
		names[i] = "com.amazonaws." + d.c.Region + "." + s
	}
	found := map[string]ec2types.VpcEndpoint{}
	in := &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}},
		{Name: aws.String("service-name"), Values: names},
	}}
	for {
		out, err := d.c.EC2.DescribeVpcEndpoints(d.ctx, in)
		if err != nil {
			return nil, err
		}
		for _, ep := range out.VpcEndpoints {
			if !strings.EqualFold(string(ep.State), "available") {
				continue
			}
			name := aws.ToString(ep.ServiceName)
			found[name[strings.LastIndexByte(name, '.')+1:]] = ep
		}
		if aws.ToString(out.NextToken) == "" {
			return found, nil
		}
		in.NextToken = out.NextToken
	}
}

// endpointDNS checks that the endpoints' private DNS names resolve: private
// DNS on every endpoint, DNS support and hostnames on the VPC.
func (d *diagnosis) endpointDNS(vpc string, eps map[string]ec2types.VpcEndpoint) {
	var noDNS []string
	for _, s := range endpointServices {
		if ep, ok := eps[s]; ok && !aws.ToBool(ep.PrivateDnsEnabled) {
			noDNS = append(noDNS, aws.ToString(ep.VpcEndpointId)+" ("+s+")")
		}
	}
	var off []string
	for _, attr := range []ec2types.VpcAttributeName{ec2types.VpcAttributeNameEnableDnsSupport, ec2types.VpcAttributeNameEnableDnsHostnames} {
		out, err := d.c.EC2.DescribeVpcAttribute(d.ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String(vpc), Attribute: attr})
		if err != nil {
			d.unknown("VPC DNS", "ec2:DescribeVpcAttribute", err)
			return
		}
		var v *ec2types.AttributeBooleanValue
		if attr == ec2types.VpcAttributeNameEnableDnsSupport {
			v = out.EnableDnsSupport
		} else {
			v = out.EnableDnsHostnames
		}
		if v == nil || !aws.ToBool(v.Value) {
			off = append(off, string(attr))
		}
	}
	switch {
	case len(off) > 0:
		fix := make([]string, len(off))
		for i, a := range off {
			fix[i] = fmt.Sprintf(`aws ec2 modify-vpc-attribute --vpc-id %s --%s '{"Value":true}'`, vpc, kebab(a))
		}
		d.add("VPC DNS", Fail, fmt.Sprintf("%s has %s off: the endpoints' private DNS names do not resolve, so the agent goes to the public endpoints it cannot reach", vpc, strings.Join(off, " and ")),
			strings.Join(fix, "; "))
	case len(noDNS) > 0:
		d.add("VPC DNS", Fail, "private DNS is off on "+strings.Join(noDNS, ", "),
			"turn it on: aws ec2 modify-vpc-endpoint --vpc-endpoint-id ID --private-dns-enabled")
	default:
		d.add("VPC DNS", OK, fmt.Sprintf("%s resolves the endpoints' private DNS names", vpc), "")
	}
}

// kebab turns enableDnsHostnames into enable-dns-hostnames.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d *diagnosis) loadInstanceSGs() {
	var ids []string
	for _, g := range d.inst.SecurityGroups {
		ids = append(ids, aws.ToString(g.GroupId))
	}
	if len(ids) == 0 {
		return
	}
	out, err := d.c.EC2.DescribeSecurityGroups(d.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
	if err != nil {
		d.unknown("security groups", "ec2:DescribeSecurityGroups", err)
		return
	}
	d.instanceSGs = out.SecurityGroups
}

// endpointSecurityGroups checks that every endpoint admits 443 from the
// instance (its private IP or one of its groups).
func (d *diagnosis) endpointSecurityGroups(eps map[string]ec2types.VpcEndpoint) {
	ip, _ := netip.ParseAddr(aws.ToString(d.inst.PrivateIpAddress))
	mine := map[string]bool{}
	for _, g := range d.inst.SecurityGroups {
		mine[aws.ToString(g.GroupId)] = true
	}
	var bad []string
	var badGroups []string
	for _, s := range endpointServices {
		ep, ok := eps[s]
		if !ok {
			continue
		}
		var ids []string
		for _, g := range ep.Groups {
			ids = append(ids, aws.ToString(g.GroupId))
		}
		if len(ids) == 0 {
			continue
		}
		out, err := d.c.EC2.DescribeSecurityGroups(d.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: ids})
		if err != nil {
			d.unknown("endpoint security groups", "ec2:DescribeSecurityGroups", err)
			return
		}
		if !slices.ContainsFunc(out.SecurityGroups, func(g ec2types.SecurityGroup) bool {
			return allows(g.IpPermissions, ip, mine)
		}) {
			bad = append(bad, aws.ToString(ep.VpcEndpointId)+" ("+s+")")
			badGroups = append(badGroups, ids...)
		}
	}
	if len(bad) > 0 {
		slices.Sort(badGroups)
		badGroups = slices.Compact(badGroups)
		d.add("endpoint security groups", Fail, fmt.Sprintf("%s: no inbound rule admits TCP 443 from %s or its security groups", strings.Join(bad, ", "), d.rep.InstanceID),
			fmt.Sprintf("allow it: aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port 443 --cidr %s/32 (or the VPC's CIDR)", badGroups[0], ip))
		return
	}
	d.add("endpoint security groups", OK, "the endpoints admit TCP 443 from the instance", "")
}

// egress checks that the instance's groups let TCP 443 out (to the
// endpoints' addresses inside the VPC, or to the internet).
func (d *diagnosis) egress(toEndpoints bool) {
	if len(d.instanceSGs) == 0 {
		return
	}
	for _, g := range d.instanceSGs {
		for _, p := range g.IpPermissionsEgress {
			if !permits443(p) {
				continue
			}
			for _, r := range p.IpRanges {
				pfx, err := netip.ParsePrefix(aws.ToString(r.CidrIp))
				if err != nil {
					continue
				}
				if pfx.Bits() == 0 || (toEndpoints && pfx.Addr().IsPrivate()) {
					d.add("instance security groups", OK, fmt.Sprintf("%s lets TCP 443 out to %s", aws.ToString(g.GroupId), pfx), "")
					return
				}
			}
			if toEndpoints && len(p.UserIdGroupPairs) > 0 {
				d.add("instance security groups", OK, fmt.Sprintf("%s lets TCP 443 out to security group %s", aws.ToString(g.GroupId), aws.ToString(p.UserIdGroupPairs[0].GroupId)), "")
				return
			}
		}
	}
	d.add("instance security groups", Fail, "no outbound rule lets TCP 443 out",
		fmt.Sprintf("allow it: aws ec2 authorize-security-group-egress --group-id %s --protocol tcp --port 443 --cidr 0.0.0.0/0", aws.ToString(d.instanceSGs[0].GroupId)))
}

// allows reports whether one of perms admits TCP 443 from ip or from one of
// the groups in mine.
func allows(perms []ec2types.IpPermission, ip netip.Addr, mine map[string]bool) bool {
	for _, p := range perms {
		if !permits443(p) {
			continue
		}
		for _, r := range p.IpRanges {
			if pfx, err := netip.ParsePrefix(aws.ToString(r.CidrIp)); err == nil && ip.IsValid() && pfx.Contains(ip) {
				return true
			}
		}
		for _, g := range p.UserIdGroupPairs {
			if mine[aws.ToString(g.GroupId)] {
				return true
			}
		}
	}
	return false
}

func permits443(p ec2types.IpPermission) bool {
	switch aws.ToString(p.IpProtocol) {
	case "-1", "all":
		return true
	case "tcp", "6":
		from, to := aws.ToInt32(p.FromPort), aws.ToInt32(p.ToPort)
		return from <= 443 && 443 <= to
	}
	return false
}

func tag(tags []ec2types.Tag, key string) string {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}
