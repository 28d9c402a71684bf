package sandbox

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/ssmtui/ssmtui/assets"
)

// demoNet starts the demo fleet and returns its demo-prod account and ec2
// and iam clients for eu-central-1, where the doctor cases live.
func demoNet(t *testing.T) (*Sandbox, *Account, *ec2.Client, *iam.Client) {
	t.Helper()
	f, err := ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	sb := startInv(t, f, LimitOptions{})
	acct := &f.Accounts[0]
	if acct.Profile != "demo-prod" {
		t.Fatalf("first demo account is %s", acct.Profile)
	}
	cfg := sdkConfig(t, sb, acct, "eu-central-1", 1)
	return sb, acct, ec2.NewFromConfig(cfg), iam.NewFromConfig(cfg)
}

func byName(t *testing.T, acct *Account, region, name string) *Instance {
	t.Helper()
	for i := range acct.Instances {
		if in := &acct.Instances[i]; in.Region == region && in.Name == name {
			return in
		}
	}
	t.Fatalf("no instance %s in %s", name, region)
	return nil
}

func filter(name string, values ...string) ec2types.Filter {
	return ec2types.Filter{Name: aws.String(name), Values: values}
}

func hasDefaultRoute(rt ec2types.RouteTable) bool {
	return slices.ContainsFunc(rt.Routes, func(r ec2types.Route) bool { return aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" })
}

// TestNetworkDemoCases reads each demo doctor case through the real SDK
// clients and checks that the modelled fault is what the APIs answer.
func TestNetworkDemoCases(t *testing.T) {
	_, acct, ec, ic := demoNet(t)
	ctx := testCtx(t)
	const region = "eu-central-1"
	legacy, orders := byName(t, acct, region, "legacy-batch-1"), byName(t, acct, region, "orders-db-1")
	worker, reports := byName(t, acct, region, "private-worker-1"), byName(t, acct, region, "reports-1")
	metrics, healthy := byName(t, acct, region, "metrics-1"), byName(t, acct, region, "reporting-fra")
	ssmServices := []string{"com.amazonaws.eu-central-1.ssm", "com.amazonaws.eu-central-1.ssmmessages", "com.amazonaws.eu-central-1.ec2messages"}

	t.Run("instances carry their profile and groups", func(t *testing.T) {
		out, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{legacy.ID, orders.ID, reports.ID}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]ec2types.Instance{}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				got[aws.ToString(in.InstanceId)] = in
			}
		}
		if p := got[legacy.ID].IamInstanceProfile; p != nil {
			t.Errorf("legacy-batch-1 has instance profile %v, want none", aws.ToString(p.Arn))
		}
		if p := got[orders.ID].IamInstanceProfile; p == nil || !strings.HasSuffix(aws.ToString(p.Arn), ":instance-profile/orders-db-profile") {
			t.Errorf("orders-db-1 profile = %+v", p)
		}
		g := got[reports.ID].SecurityGroups
		if len(g) != 1 || aws.ToString(g[0].GroupId) != "sg-0e72d4e5f60718293" || aws.ToString(g[0].GroupName) != "reports-app" {
			t.Errorf("reports-1 groups = %+v, want reports-app", g)
		}
		if ni := got[reports.ID].NetworkInterfaces; len(ni) != 1 || len(ni[0].Groups) != 1 || aws.ToString(ni[0].Groups[0].GroupId) != "sg-0e72d4e5f60718293" {
			t.Errorf("reports-1 interface groups = %+v", ni)
		}
		if g := got[legacy.ID].SecurityGroups; len(g) != 1 || aws.ToString(g[0].GroupName) != "default" {
			t.Errorf("legacy-batch-1 groups = %+v, want its VPC's default group", g)
		}
	})

	t.Run("role without the SSM policy", func(t *testing.T) {
		p, err := ic.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("orders-db-profile")})
		if err != nil {
			t.Fatal(err)
		}
		ip := p.InstanceProfile
		if aws.ToString(ip.Arn) != "arn:aws:iam::111122223333:instance-profile/orders-db-profile" || len(ip.Roles) != 1 || ip.CreateDate == nil {
			t.Fatalf("profile = %+v", ip)
		}
		role := ip.Roles[0]
		if aws.ToString(role.RoleName) != "orders-db-role" || aws.ToString(role.Arn) != "arn:aws:iam::111122223333:role/orders-db-role" ||
			!strings.Contains(aws.ToString(role.AssumeRolePolicyDocument), "ec2.amazonaws.com") {
			t.Fatalf("role = %+v", role)
		}
		pol, err := ic.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: role.RoleName})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range pol.AttachedPolicies {
			names = append(names, aws.ToString(p.PolicyName))
			if aws.ToString(p.PolicyArn) != "arn:aws:iam::aws:policy/"+aws.ToString(p.PolicyName) {
				t.Errorf("policy arn %s", aws.ToString(p.PolicyArn))
			}
		}
		if !slices.Equal(names, []string{"CloudWatchAgentServerPolicy", "AmazonS3ReadOnlyAccess"}) || pol.IsTruncated {
			t.Fatalf("policies = %v (truncated %v)", names, pol.IsTruncated)
		}
		// The healthy instances' profile gets the synthesized role with the SSM policy.
		p, err = ic.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String(healthy.InstanceProfile)})
		if err != nil {
			t.Fatal(err)
		}
		pol, err = ic.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: p.InstanceProfile.Roles[0].RoleName})
		if err != nil {
			t.Fatal(err)
		}
		if len(pol.AttachedPolicies) != 1 || aws.ToString(pol.AttachedPolicies[0].PolicyArn) != "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" {
			t.Fatalf("%s policies = %+v", healthy.InstanceProfile, pol.AttachedPolicies)
		}
	})

	t.Run("private subnet without endpoints", func(t *testing.T) {
		rts, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("association.subnet-id", worker.SubnetID)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rts.RouteTables) != 1 {
			t.Fatalf("%d route tables for %s", len(rts.RouteTables), worker.SubnetID)
		}
		rt := rts.RouteTables[0]
		if hasDefaultRoute(rt) {
			t.Fatalf("private-worker-1's table routes 0.0.0.0/0: %+v", rt.Routes)
		}
		if len(rt.Routes) != 2 || aws.ToString(rt.Routes[0].GatewayId) != "local" || aws.ToString(rt.Routes[1].TransitGatewayId) != "tgw-0d1e2f3a4b5c6d7e8" ||
			rt.Routes[1].State != ec2types.RouteStateActive {
			t.Fatalf("routes = %+v", rt.Routes)
		}
		if len(rt.Associations) != 1 || aws.ToString(rt.Associations[0].SubnetId) != worker.SubnetID || aws.ToBool(rt.Associations[0].Main) {
			t.Fatalf("associations = %+v", rt.Associations)
		}
		eps, err := ec.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{filter("vpc-id", worker.VPCID)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(eps.VpcEndpoints) != 0 {
			t.Fatalf("private-worker-1's VPC has endpoints: %+v", eps.VpcEndpoints)
		}
	})

	t.Run("endpoints whose group refuses the instance", func(t *testing.T) {
		eps, err := ec.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{
			filter("vpc-id", reports.VPCID), filter("service-name", ssmServices...)}})
		if err != nil {
			t.Fatal(err)
		}
		var services []string
		for _, e := range eps.VpcEndpoints {
			// State: AWS sends "available" (ec2types.StateAvailable is "Available").
			services = append(services, aws.ToString(e.ServiceName))
			if e.VpcEndpointType != ec2types.VpcEndpointTypeInterface || e.State != "available" || !aws.ToBool(e.PrivateDnsEnabled) ||
				!slices.Equal(e.SubnetIds, []string{reports.SubnetID}) || len(e.Groups) != 1 || aws.ToString(e.Groups[0].GroupId) != "sg-0e72b2c3d4e5f6071" {
				t.Errorf("endpoint %s: type %s state %s privateDns %v subnets %v groups %d %s", aws.ToString(e.VpcEndpointId), e.VpcEndpointType, e.State, aws.ToBool(e.PrivateDnsEnabled), e.SubnetIds, len(e.Groups), aws.ToString(e.Groups[0].GroupId))
			}
			if len(e.DnsEntries) < 3 || aws.ToString(e.DnsEntries[len(e.DnsEntries)-1].DnsName) != strings.TrimPrefix(aws.ToString(e.ServiceName), "com.amazonaws.eu-central-1.")+".eu-central-1.amazonaws.com" {
				t.Errorf("dns entries %+v", e.DnsEntries)
			}
		}
		if !slices.Equal(services, ssmServices) {
			t.Fatalf("services = %v", services)
		}
		sgs, err := ec.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0e72b2c3d4e5f6071"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sgs.SecurityGroups) != 1 {
			t.Fatalf("%d groups", len(sgs.SecurityGroups))
		}
		g := sgs.SecurityGroups[0]
		if aws.ToString(g.VpcId) != reports.VPCID || aws.ToString(g.GroupName) != "ssm-endpoints" || aws.ToString(g.OwnerId) != acct.ID {
			t.Errorf("group = %+v", g)
		}
		if len(g.IpPermissions) != 1 {
			t.Fatalf("ingress = %+v", g.IpPermissions)
		}
		in := g.IpPermissions[0]
		if aws.ToString(in.IpProtocol) != "tcp" || aws.ToInt32(in.FromPort) != 443 || aws.ToInt32(in.ToPort) != 443 ||
			len(in.IpRanges) != 1 || aws.ToString(in.IpRanges[0].CidrIp) != "192.168.100.0/24" || len(in.UserIdGroupPairs) != 0 {
			t.Fatalf("ingress = %+v", in)
		}
		if len(g.IpPermissionsEgress) != 1 || aws.ToString(g.IpPermissionsEgress[0].IpProtocol) != "-1" || g.IpPermissionsEgress[0].FromPort != nil {
			t.Fatalf("egress = %+v", g.IpPermissionsEgress)
		}
	})

	t.Run("VPC without DNS hostnames", func(t *testing.T) {
		for _, c := range []struct {
			vpc  string
			attr ec2types.VpcAttributeName
			want bool
		}{
			{metrics.VPCID, ec2types.VpcAttributeNameEnableDnsHostnames, false},
			{metrics.VPCID, ec2types.VpcAttributeNameEnableDnsSupport, true},
			{healthy.VPCID, ec2types.VpcAttributeNameEnableDnsHostnames, true},
		} {
			out, err := ec.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String(c.vpc), Attribute: c.attr})
			if err != nil {
				t.Fatal(err)
			}
			v := out.EnableDnsHostnames
			other := out.EnableDnsSupport
			if c.attr == ec2types.VpcAttributeNameEnableDnsSupport {
				v, other = other, v
			}
			if aws.ToString(out.VpcId) != c.vpc || v == nil || aws.ToBool(v.Value) != c.want || other != nil {
				t.Errorf("%s %s: %+v", c.vpc, c.attr, out)
			}
		}
		eps, err := ec.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{filter("vpc-id", metrics.VPCID), filter("vpc-endpoint-type", "Interface")}})
		if err != nil {
			t.Fatal(err)
		}
		if len(eps.VpcEndpoints) != 3 || !aws.ToBool(eps.VpcEndpoints[0].PrivateDnsEnabled) {
			t.Fatalf("metrics endpoints = %+v", eps.VpcEndpoints)
		}
		sn, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{metrics.SubnetID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sn.Subnets) != 1 || aws.ToString(sn.Subnets[0].CidrBlock) != "10.70.1.0/24" || aws.ToString(sn.Subnets[0].VpcId) != metrics.VPCID ||
			aws.ToBool(sn.Subnets[0].MapPublicIpOnLaunch) || aws.ToString(sn.Subnets[0].AvailabilityZone) != "eu-central-1c" {
			t.Fatalf("subnet = %+v", sn.Subnets)
		}
	})

	t.Run("healthy private subnet", func(t *testing.T) {
		rts, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("association.subnet-id", healthy.SubnetID)}})
		if err != nil || len(rts.RouteTables) != 1 || hasDefaultRoute(rts.RouteTables[0]) {
			t.Fatalf("reporting-fra's table: %+v, %v", rts, err)
		}
		eps, err := ec.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{Filters: []ec2types.Filter{filter("vpc-id", healthy.VPCID)}})
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]ec2types.VpcEndpointType{}
		for _, e := range eps.VpcEndpoints {
			types[aws.ToString(e.ServiceName)] = e.VpcEndpointType
		}
		if len(types) != 4 || types["com.amazonaws.eu-central-1.s3"] != ec2types.VpcEndpointTypeGateway || types[ssmServices[1]] != ec2types.VpcEndpointTypeInterface {
			t.Fatalf("endpoint types = %v", types)
		}
		sgs, err := ec.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("vpc-id", healthy.VPCID), filter("group-name", "ssm-endpoints")}})
		if err != nil || len(sgs.SecurityGroups) != 1 || aws.ToString(sgs.SecurityGroups[0].IpPermissions[0].IpRanges[0].CidrIp) != "10.40.0.0/16" {
			t.Fatalf("endpoint group: %+v, %v", sgs, err)
		}
		// A neighbour without an explicit subnet gets a synthesized one:
		// public (internet gateway) with a public IP, else behind a NAT.
		api := byName(t, acct, region, "api-fra-1")
		rts, err = ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("association.subnet-id", api.SubnetID)}})
		if err != nil || len(rts.RouteTables) != 1 || !hasDefaultRoute(rts.RouteTables[0]) {
			t.Fatalf("api-fra-1's table: %+v, %v", rts, err)
		}
		gw, nat := aws.ToString(rts.RouteTables[0].Routes[1].GatewayId), aws.ToString(rts.RouteTables[0].Routes[1].NatGatewayId)
		if (api.PublicIP != "" && !strings.HasPrefix(gw, "igw-")) || (api.PublicIP == "" && !strings.HasPrefix(nat, "nat-")) {
			t.Fatalf("api-fra-1 (public IP %q) routes 0.0.0.0/0 to gateway %q / NAT %q", api.PublicIP, gw, nat)
		}
	})
}

// TestNetworkDefaults: a fleet without a network answers a healthy VPC,
// subnet, route, security group and role for what its instances name.
func TestNetworkDefaults(t *testing.T) {
	f := &Fleet{Accounts: []Account{{
		ID: "123456789012", AccessKeyID: "AKIANETDEFAULTS0001", SecretAccessKey: "s", Regions: []string{"eu-west-1", "us-east-1"},
		Instances: []Instance{
			{ID: "i-0123456789abcdef0", Region: "eu-west-1", PrivateIP: "10.9.2.7", PublicIP: "198.51.100.7", VPCID: "vpc-0aaaa", SubnetID: "subnet-0bbbb", AZ: "eu-west-1b", InstanceProfile: "web-profile"},
			{ID: "i-0123456789abcdef1", Region: "eu-west-1", PrivateIP: "192.168.4.5", VPCID: "vpc-0cccc", SubnetID: "subnet-0dddd"},
		},
	}}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	cfg := sdkConfig(t, sb, &f.Accounts[0], "eu-west-1", 1)
	ec, ic := ec2.NewFromConfig(cfg), iam.NewFromConfig(cfg)

	for _, attr := range []ec2types.VpcAttributeName{ec2types.VpcAttributeNameEnableDnsSupport, ec2types.VpcAttributeNameEnableDnsHostnames} {
		out, err := ec.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String("vpc-0aaaa"), Attribute: attr})
		if err != nil {
			t.Fatal(err)
		}
		v := out.EnableDnsSupport
		if attr == ec2types.VpcAttributeNameEnableDnsHostnames {
			v = out.EnableDnsHostnames
		}
		if v == nil || !aws.ToBool(v.Value) {
			t.Errorf("%s = %+v, want true", attr, out)
		}
	}
	sn, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("vpc-id", "vpc-0aaaa")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sn.Subnets) != 1 || aws.ToString(sn.Subnets[0].SubnetId) != "subnet-0bbbb" || aws.ToString(sn.Subnets[0].CidrBlock) != "10.9.2.0/24" ||
		aws.ToString(sn.Subnets[0].AvailabilityZone) != "eu-west-1b" || aws.ToInt32(sn.Subnets[0].AvailableIpAddressCount) != 250 {
		t.Fatalf("subnet = %+v", sn.Subnets)
	}
	rts, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("association.subnet-id", "subnet-0bbbb")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rts.RouteTables) != 1 {
		t.Fatalf("%d tables", len(rts.RouteTables))
	}
	r := rts.RouteTables[0].Routes
	if len(r) != 2 || aws.ToString(r[0].DestinationCidrBlock) != "10.9.0.0/16" || aws.ToString(r[0].GatewayId) != "local" ||
		aws.ToString(r[1].DestinationCidrBlock) != "0.0.0.0/0" || !strings.HasPrefix(aws.ToString(r[1].GatewayId), "igw-0") {
		t.Fatalf("routes = %+v", r)
	}
	// Without a public IP in it, a subnet is private behind a NAT gateway.
	priv, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("association.subnet-id", "subnet-0dddd")}})
	if err != nil || len(priv.RouteTables) != 1 || len(priv.RouteTables[0].Routes) != 2 ||
		!strings.HasPrefix(aws.ToString(priv.RouteTables[0].Routes[1].NatGatewayId), "nat-0") {
		t.Fatalf("private subnet's table: %+v, %v", priv, err)
	}
	// The main table: local route only, associated main.
	mains, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{filter("vpc-id", "vpc-0cccc"), filter("association.main", "true")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(mains.RouteTables) != 1 || len(mains.RouteTables[0].Routes) != 1 || aws.ToString(mains.RouteTables[0].Routes[0].DestinationCidrBlock) != "10.0.0.0/16" ||
		!aws.ToBool(mains.RouteTables[0].Associations[0].Main) {
		t.Fatalf("main table = %+v", mains.RouteTables)
	}
	sgs, err := ec.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{filter("vpc-id", "vpc-0aaaa")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sgs.SecurityGroups) != 1 {
		t.Fatalf("%d groups", len(sgs.SecurityGroups))
	}
	g := sgs.SecurityGroups[0]
	id := aws.ToString(g.GroupId)
	if aws.ToString(g.GroupName) != "default" || len(g.IpPermissions) != 1 || aws.ToString(g.IpPermissions[0].IpProtocol) != "-1" ||
		len(g.IpPermissions[0].UserIdGroupPairs) != 1 || aws.ToString(g.IpPermissions[0].UserIdGroupPairs[0].GroupId) != id ||
		len(g.IpPermissionsEgress) != 1 || aws.ToString(g.IpPermissionsEgress[0].IpRanges[0].CidrIp) != "0.0.0.0/0" {
		t.Fatalf("default group = %+v", g)
	}
	inst, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	if err != nil {
		t.Fatal(err)
	}
	if gs := inst.Reservations[0].Instances[0].SecurityGroups; len(gs) != 1 || aws.ToString(gs[0].GroupId) != id {
		t.Fatalf("instance groups = %+v, want %s", gs, id)
	}
	eps, err := ec.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
	if err != nil || len(eps.VpcEndpoints) != 0 {
		t.Fatalf("endpoints = %+v, %v", eps, err)
	}
	p, err := ic.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("web-profile")})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.InstanceProfile.Roles) != 1 || aws.ToString(p.InstanceProfile.Roles[0].RoleName) != "web-profile-role" {
		t.Fatalf("profile = %+v", p.InstanceProfile)
	}
	pol, err := ic.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("web-profile-role")})
	if err != nil || len(pol.AttachedPolicies) != 1 || aws.ToString(pol.AttachedPolicies[0].PolicyName) != "AmazonSSMManagedInstanceCore" {
		t.Fatalf("policies = %+v, %v", pol, err)
	}
	// The model is regional: us-east-1 has none of it; IAM is global.
	east := sdkConfig(t, sb, &f.Accounts[0], "us-east-1", 1)
	_, err = ec2.NewFromConfig(east).DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String("vpc-0aaaa"), Attribute: ec2types.VpcAttributeNameEnableDnsSupport})
	wantCode(t, err, "InvalidVpcID.NotFound")
	if _, err := iam.NewFromConfig(east).GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("web-profile")}); err != nil {
		t.Fatalf("IAM in another region: %v", err)
	}
}

// TestNetworkErrors: unknown IDs and bad inputs answer what AWS answers.
func TestNetworkErrors(t *testing.T) {
	_, _, ec, ic := demoNet(t)
	ctx := testCtx(t)
	for name, c := range map[string]struct {
		call    func() error
		code    string
		message string
		status  int
	}{
		"unknown vpc": {func() error {
			_, err := ec.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String("vpc-0000dead"), Attribute: ec2types.VpcAttributeNameEnableDnsSupport})
			return err
		}, "InvalidVpcID.NotFound", "The vpc ID 'vpc-0000dead' does not exist", 400},
		"unknown attribute": {func() error {
			_, err := ec.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: aws.String("vpc-79ee226fc1d47d0d2"), Attribute: "enableClassicLink"})
			return err
		}, "InvalidParameterValue", "enableClassicLink", 400},
		"unknown group": {func() error {
			_, err := ec.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0e40a1b2c3d4e5f60", "sg-0000dead"}})
			return err
		}, "InvalidGroup.NotFound", "'sg-0000dead'", 400},
		"unknown subnet": {func() error {
			_, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0000dead"}})
			return err
		}, "InvalidSubnetID.NotFound", "The subnet ID 'subnet-0000dead' does not exist", 400},
		"unknown route table": {func() error {
			_, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0000dead"}})
			return err
		}, "InvalidRouteTableID.NotFound", "'rtb-0000dead'", 400},
		"unknown endpoint": {func() error {
			_, err := ec.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{"vpce-0000dead"}})
			return err
		}, "InvalidVpcEndpointId.NotFound", "'vpce-0000dead'", 400},
		"unknown filter": {func() error {
			_, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{filter("colour", "blue")}})
			return err
		}, "InvalidParameterValue", "colour", 400},
		"route tables page too large": {func() error {
			_, err := ec.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterValue", "maxResults", 400},
		"unknown profile": {func() error {
			_, err := ic.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("nope")})
			return err
		}, "NoSuchEntity", "Instance Profile nope cannot be found.", 404},
		"unknown role": {func() error {
			_, err := ic.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("nope")})
			return err
		}, "NoSuchEntity", "The role with name nope cannot be found.", 404},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.call()
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != c.code || !strings.Contains(ae.ErrorMessage(), c.message) {
				t.Fatalf("err = %v, want %s containing %q", err, c.code, c.message)
			}
			var re *awshttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != c.status {
				t.Fatalf("status: %v, want %d", err, c.status)
			}
			if c.code == "NoSuchEntity" {
				var nse *iamtypes.NoSuchEntityException
				if !errors.As(err, &nse) {
					t.Fatalf("err = %T, want the SDK's typed NoSuchEntityException", err)
				}
			}
		})
	}
}

// TestNetworkPaging walks endpoints and attached policies page by page with
// the SDK's paginators.
func TestNetworkPaging(t *testing.T) {
	_, _, ec, ic := demoNet(t)
	ctx := testCtx(t)
	var ids []string
	pages := 0
	p := ec2.NewDescribeVpcEndpointsPaginator(ec, &ec2.DescribeVpcEndpointsInput{MaxResults: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range out.VpcEndpoints {
			ids = append(ids, aws.ToString(e.VpcEndpointId))
		}
	}
	if len(ids) != 10 || pages != 4 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 10 {
		t.Fatalf("%d pages, endpoints %v; want 10 distinct in 4 pages", pages, ids)
	}
	var names []string
	first := true
	pp := iam.NewListAttachedRolePoliciesPaginator(ic, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String("orders-db-role"), MaxItems: aws.Int32(1)})
	for pp.HasMorePages() {
		out, err := pp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first && (!out.IsTruncated || out.Marker == nil) {
			t.Fatalf("first page not truncated: %+v", out)
		}
		first = false
		for _, p := range out.AttachedPolicies {
			names = append(names, aws.ToString(p.PolicyName))
		}
	}
	if !slices.Equal(names, []string{"CloudWatchAgentServerPolicy", "AmazonS3ReadOnlyAccess"}) {
		t.Fatalf("policies = %v", names)
	}
}

// TestNotManaged: the demo's notManaged instances exist in EC2, are absent
// from DescribeInstanceInformation and cannot be connected to.
func TestNotManaged(t *testing.T) {
	sb, acct, ec, _ := demoNet(t)
	ctx := testCtx(t)
	var notManaged []string
	for _, in := range acct.Instances {
		if in.NotManaged {
			notManaged = append(notManaged, in.ID)
		}
	}
	if len(notManaged) != 5 {
		t.Fatalf("demo fleet has %d notManaged instances, want 5", len(notManaged))
	}
	c := ssm.NewFromConfig(sdkConfig(t, sb, acct, "eu-central-1", 1))
	var listed []string
	p := ssm.NewDescribeInstanceInformationPaginator(c, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(50)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range out.InstanceInformationList {
			listed = append(listed, aws.ToString(in.InstanceId))
		}
	}
	if !slices.Contains(listed, byName(t, acct, "eu-central-1", "reporting-fra").ID) {
		t.Fatalf("managed reporting-fra missing from %v", listed)
	}
	for _, id := range notManaged {
		if slices.Contains(listed, id) {
			t.Errorf("notManaged %s listed by DescribeInstanceInformation", id)
		}
	}
	// Asked for by ID, they are still not there.
	out, err := c.DescribeInstanceInformation(ctx, &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{{Key: aws.String("InstanceIds"), Values: notManaged}}})
	if err != nil || len(out.InstanceInformationList) != 0 {
		t.Fatalf("by ID: %+v, %v", out, err)
	}
	inst, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: notManaged})
	if err != nil || len(inst.Reservations) != 5 || inst.Reservations[0].Instances[0].State.Name != ec2types.InstanceStateNameRunning {
		t.Fatalf("DescribeInstances: %+v, %v", inst, err)
	}
	_, err = c.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(notManaged[0])})
	wantCode(t, err, "TargetNotConnected")
	var tnc *ssmtypes.TargetNotConnected
	if !errors.As(err, &tnc) {
		t.Fatalf("err = %T, want *types.TargetNotConnected", err)
	}
}

// TestNetworkDeniedRegion: the network calls are denied where every call is.
func TestNetworkDeniedRegion(t *testing.T) {
	f, err := ParseFleet(assets.DemoFleet)
	if err != nil {
		t.Fatal(err)
	}
	sb := startInv(t, f, LimitOptions{})
	ctx := testCtx(t)
	dev := &f.Accounts[1]
	cfg := sdkConfig(t, sb, dev, dev.DeniedRegions[0], 1)
	_, err = ec2.NewFromConfig(cfg).DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{})
	wantCode(t, err, "UnauthorizedOperation")
	_, err = iam.NewFromConfig(cfg).GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("ssm-core")})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
		t.Fatalf("IAM in a denied region: %v", err)
	}
	// A region not enabled for the account: EC2 refuses the credentials;
	// IAM is global and answers.
	north := sdkConfig(t, sb, dev, "eu-north-1", 1)
	_, err = ec2.NewFromConfig(north).DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{})
	wantCode(t, err, "AuthFailure")
	p, err := iam.NewFromConfig(north).GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: aws.String("ssm-core")})
	if err != nil || aws.ToString(p.InstanceProfile.Arn) != "arn:aws:iam::"+dev.ID+":instance-profile/ssm-core" {
		t.Fatalf("IAM signed for a region not enabled: %+v, %v", p, err)
	}
}

// TestNetworkValidate: ParseFleet refuses inconsistent network models.
func TestNetworkValidate(t *testing.T) {
	base := `{"accounts":[{"id":"123456789012","accessKeyId":"AKIAVALIDATE0000001","regions":["eu-west-1"],
 "instances":[{"id":"i-0123456789abcdef0","region":"eu-west-1","privateIp":"10.1.1.1","vpcId":"vpc-01","subnetId":"subnet-01"%s}]%s}]}`
	for name, c := range map[string]struct{ inst, net, want string }{
		"valid": {`,"securityGroups":["sg-01"]`, `,"network":{"securityGroups":[{"id":"sg-01","vpcId":"vpc-01","name":"app","egress":[{"protocol":"tcp","fromPort":443,"toPort":443,"cidrs":["0.0.0.0/0"]}]}],
  "instanceProfiles":[{"name":"p","role":"r"}],"roles":[{"name":"r","policies":["AmazonSSMManagedInstanceCore"]}]}`, ""},
		"subnet in unknown vpc":    {"", `,"network":{"subnets":[{"id":"subnet-02","vpcId":"vpc-99","cidr":"10.1.2.0/24"}]}`, "vpc \"vpc-99\""},
		"bad cidr":                 {"", `,"network":{"vpcs":[{"id":"vpc-02","region":"eu-west-1","cidr":"10.1.0.0/33"}]}`, "not an IPv4 CIDR"},
		"vpc in disabled region":   {"", `,"network":{"vpcs":[{"id":"vpc-02","region":"us-east-1","cidr":"10.2.0.0/16"}]}`, "not enabled"},
		"bad route target":         {"", `,"network":{"routeTables":[{"id":"rtb-01","vpcId":"vpc-01","routes":[{"destination":"0.0.0.0/0","target":"vgw-1"}]}]}`, "target"},
		"two main tables":          {"", `,"network":{"routeTables":[{"id":"rtb-01","vpcId":"vpc-01","main":true},{"id":"rtb-02","vpcId":"vpc-01","main":true}]}`, "main table"},
		"tcp rule without ports":   {"", `,"network":{"securityGroups":[{"id":"sg-01","vpcId":"vpc-01","name":"x","ingress":[{"protocol":"tcp","cidrs":["10.0.0.0/8"]}]}]}`, "fromPort"},
		"rule names unknown group": {"", `,"network":{"securityGroups":[{"id":"sg-01","vpcId":"vpc-01","name":"x","ingress":[{"protocol":"-1","groups":["sg-77"]}]}]}`, "sg-77"},
		"instance group unknown":   {`,"securityGroups":["sg-77"]`, "", "sg-77"},
		"endpoint subnet unknown":  {"", `,"network":{"endpoints":[{"id":"vpce-01","vpcId":"vpc-01","service":"ssm","subnets":["subnet-77"]}]}`, "subnet-77"},
		"profile role undefined":   {"", `,"network":{"instanceProfiles":[{"name":"p","role":"r"}]}`, "role r"},
		"notManaged on-prem node":  {`},{"id":"mi-0123456789abcdef0","region":"eu-west-1","notManaged":true`, "", "EC2 instances only"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFleet([]byte(strings.Replace(strings.Replace(base, "%s", c.inst, 1), "%s", c.net, 1)))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
