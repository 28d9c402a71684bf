package sandbox

// Inventory APIs (issue #4): SSM DescribeInstanceInformation, EC2
// DescribeInstances and DescribeRegions, STS GetCallerIdentity. Wire facts:
// docs/aws-apis.md §3–§5; pagination bounds and error codes follow the real
// services.

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LatestAgentVersion is the SSM agent version the sandbox reports as latest;
// instances with another AgentVersion get IsLatestVersion=false.
const LatestAgentVersion = "3.3.1802.0"

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

// defaultLaunchTime is used for EC2 instances whose fleet entry has none.
var defaultLaunchTime = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

func (a *apiServer) registerInventoryAPI() {
	a.limits = newLimiter(a.sb.opts.Limits, a.sb.now)
	a.admit = a.limits.admit
	a.json["AmazonSSM.DescribeInstanceInformation"] = a.describeInstanceInformation
	a.query["ec2.DescribeInstances"] = a.describeInstances
	a.query["ec2.DescribeRegions"] = a.describeRegions
	a.query["sts.GetCallerIdentity"] = a.getCallerIdentity
	a.query["sts.AssumeRole"] = a.assumeRole
}

// regionDisabled answers calls to a region that is not enabled for the
// account the way AWS does for a not-opted-in region: the credentials are
// unknown there.
func regionDisabled(r *APIRequest) error {
	if r.Account.RegionEnabled(r.Region) {
		return nil
	}
	switch r.Service {
	case "ec2":
		return &APIError{Status: http.StatusUnauthorized, Code: "AuthFailure", Message: "AWS was not able to validate the provided access credentials"}
	case "sts":
		return &APIError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	default:
		return &APIError{Status: http.StatusBadRequest, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
	}
}

// ---- pagination tokens ----

// pageToken is the opaque NextToken: base64 of the next offset and a hash of
// the request's filters, so a token cannot be replayed with other filters.
func pageToken(offset int, filterHash string) string {
	b := binary.BigEndian.AppendUint32(nil, uint32(offset))
	b = append(b, filterHash...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parsePageToken(tok, filterHash string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 4 || string(b[4:]) != filterHash {
		return 0, false
	}
	return int(binary.BigEndian.Uint32(b)), true
}

func hashOf(v any) string {
	b, _ := json.Marshal(v)
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:6])
}

// ---- SSM DescribeInstanceInformation ----

type ssmFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

type ssmLegacyFilter struct {
	Key      string   `json:"key"`
	ValueSet []string `json:"valueSet"`
}

type describeInstanceInformationInput struct {
	Filters                       []ssmFilter       `json:"Filters"`
	InstanceInformationFilterList []ssmLegacyFilter `json:"InstanceInformationFilterList"`
	MaxResults                    *int              `json:"MaxResults"`
	NextToken                     string            `json:"NextToken"`
}

type instanceInformation struct {
	InstanceID        string  `json:"InstanceId"`
	PingStatus        string  `json:"PingStatus"`
	LastPingDateTime  float64 `json:"LastPingDateTime"`
	AgentVersion      string  `json:"AgentVersion"`
	IsLatestVersion   bool    `json:"IsLatestVersion"`
	PlatformType      string  `json:"PlatformType"`
	PlatformName      string  `json:"PlatformName"`
	PlatformVersion   string  `json:"PlatformVersion"`
	ResourceType      string  `json:"ResourceType"`
	IPAddress         string  `json:"IPAddress,omitempty"`
	ComputerName      string  `json:"ComputerName,omitempty"`
	Name              string  `json:"Name,omitempty"`
	IamRole           string  `json:"IamRole,omitempty"`
	ActivationID      string  `json:"ActivationId,omitempty"`
	RegistrationDate  float64 `json:"RegistrationDate,omitempty"`
	AssociationStatus string  `json:"AssociationStatus"`
	SourceID          string  `json:"SourceId"`
	SourceType        string  `json:"SourceType"`
}

type describeInstanceInformationOutput struct {
	InstanceInformationList []instanceInformation `json:"InstanceInformationList"`
	NextToken               string                `json:"NextToken,omitempty"`
}

var ssmFilterKeys = []string{"InstanceIds", "AgentVersion", "PingStatus", "PlatformTypes", "ActivationIds", "IamRole",
	"ResourceType", "AssociationStatus", "SourceIds", "SourceTypes", "tag-key"}

var ssmLegacyFilterKeys = []string{"InstanceIds", "AgentVersion", "PingStatus", "PlatformTypes", "ActivationIds",
	"IamRole", "ResourceType", "AssociationStatus"}

func (a *apiServer) describeInstanceInformation(r *APIRequest) (any, error) {
	var in describeInstanceInformationInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if err := regionDisabled(r); err != nil {
		return nil, err
	}
	limit := 10
	if in.MaxResults != nil {
		limit = *in.MaxResults
		if limit < 5 || limit > 50 {
			return nil, apiErr("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value %s", limit, map[bool]string{true: "greater than or equal to 5", false: "less than or equal to 50"}[limit < 5])
		}
	}
	if len(in.Filters) > 0 && len(in.InstanceInformationFilterList) > 0 {
		return nil, apiErr("InvalidFilter", "Filters and InstanceInformationFilterList cannot be used together")
	}
	filters := in.Filters
	for _, f := range in.InstanceInformationFilterList {
		if !slices.Contains(ssmLegacyFilterKeys, f.Key) {
			return nil, apiErr("InvalidInstanceInformationFilterValue", "The filter key %s is not valid in InstanceInformationFilterList", f.Key)
		}
		filters = append(filters, ssmFilter{Key: f.Key, Values: f.ValueSet})
	}
	for _, f := range filters {
		if !slices.Contains(ssmFilterKeys, f.Key) && !strings.HasPrefix(f.Key, "tag:") {
			return nil, apiErr("InvalidFilterKey", "The filter key %s is not valid", f.Key)
		}
		if len(f.Values) == 0 && f.Key != "tag-key" {
			return nil, apiErr("InvalidInstanceInformationFilterValue", "The filter %s needs at least one value", f.Key)
		}
		if f.Key == "InstanceIds" {
			for _, id := range f.Values {
				if !validInstanceID(id) {
					return nil, apiErr("InvalidInstanceId", "Instance Id %s is not valid", id)
				}
			}
		}
	}
	fh := hashOf(filters)
	offset := 0
	if in.NextToken != "" {
		var ok bool
		if offset, ok = parsePageToken(in.NextToken, fh); !ok {
			return nil, apiErr("InvalidNextToken", "The specified token is not valid")
		}
	}
	// Select first, then build the SSM view of the page only (filters
	// need the view of every candidate).
	var sel []*Instance
	for _, inst := range a.regionInstances(r.Account, r.Region) {
		if !ssmVisible(inst) {
			continue
		}
		if len(filters) > 0 {
			info := a.sb.ssmInfo(r.Account, inst)
			if !matchSSMFilters(inst, &info, filters) {
				continue
			}
		}
		sel = append(sel, inst)
	}
	if offset > len(sel) {
		return nil, apiErr("InvalidNextToken", "The specified token is not valid")
	}
	end := min(offset+limit, len(sel))
	out := describeInstanceInformationOutput{InstanceInformationList: make([]instanceInformation, 0, end-offset)}
	for _, inst := range sel[offset:end] {
		out.InstanceInformationList = append(out.InstanceInformationList, a.sb.ssmInfo(r.Account, inst))
	}
	if end < len(sel) {
		out.NextToken = pageToken(end, fh)
	}
	return out, nil
}

// ssmVisible reports whether a node is in DescribeInstanceInformation:
// hybrid nodes always, EC2 instances only while running (aws-apis.md §3:
// stopped and terminated nodes never appear) and registered (not NotManaged).
func ssmVisible(in *Instance) bool {
	return !in.NotManaged && (in.Managed() || in.State == "" || in.State == "running")
}

func validInstanceID(id string) bool {
	hex := func(s string) bool {
		if len(s) != 8 && len(s) != 17 {
			return false
		}
		for _, c := range s {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	switch {
	case strings.HasPrefix(id, "i-"):
		return hex(id[2:])
	case strings.HasPrefix(id, "mi-"):
		return hex(id[3:])
	}
	return false
}

func matchSSMFilters(in *Instance, info *instanceInformation, filters []ssmFilter) bool {
	for _, f := range filters {
		var v []string
		switch f.Key {
		case "InstanceIds", "SourceIds":
			v = []string{in.ID}
		case "AgentVersion":
			v = []string{info.AgentVersion}
		case "PingStatus":
			v = []string{info.PingStatus}
		case "PlatformTypes":
			v = []string{info.PlatformType}
		case "ActivationIds":
			v = []string{info.ActivationID}
		case "IamRole":
			v = []string{info.IamRole}
		case "ResourceType":
			v = []string{info.ResourceType}
		case "AssociationStatus":
			v = []string{info.AssociationStatus}
		case "SourceTypes":
			v = []string{info.SourceType}
		case "tag-key":
			if len(f.Values) == 0 {
				continue
			}
			for _, want := range f.Values {
				if _, ok := in.allTags()[want]; ok {
					v = append(v, want)
				}
			}
		default: // tag:<key>
			t, ok := in.allTags()[strings.TrimPrefix(f.Key, "tag:")]
			if !ok {
				return false
			}
			v = []string{t}
		}
		if !slices.ContainsFunc(v, func(s string) bool { return slices.Contains(f.Values, s) }) {
			return false
		}
	}
	return true
}

// ssmInfo is the DescribeInstanceInformation view of a fleet node.
func (s *Sandbox) ssmInfo(acct *Account, in *Instance) instanceInformation {
	info := instanceInformation{
		InstanceID:        in.ID,
		PingStatus:        or(in.PingStatus, "Online"),
		AgentVersion:      or(in.AgentVersion, LatestAgentVersion),
		PlatformType:      or(in.PlatformType, "Linux"),
		PlatformName:      or(in.PlatformName, "Amazon Linux"),
		PlatformVersion:   in.PlatformVersion,
		IPAddress:         in.PrivateIP,
		ComputerName:      in.computerName(),
		AssociationStatus: "Success",
		SourceID:          in.ID,
	}
	if info.PlatformVersion == "" && info.PlatformName == "Amazon Linux" {
		info.PlatformVersion = "2023"
	}
	info.IsLatestVersion = info.AgentVersion == LatestAgentVersion
	if in.IsLatestVersion != nil {
		info.IsLatestVersion = *in.IsLatestVersion
	}
	now := s.now()
	ping := now.Add(-30 * time.Second)
	if info.PingStatus != "Online" {
		ping = now.Add(-26 * time.Hour)
	}
	info.LastPingDateTime = float64(ping.UnixMilli()) / 1000
	if in.Managed() {
		info.ResourceType = "ManagedInstance"
		info.SourceType = "AWS::SSM::ManagedInstance"
		info.Name = in.Name
		info.ActivationID = "a1b2c3d4-5678-90ab-cdef-" + strings.Repeat("0", 12-min(12, len(acct.ID))) + acct.ID[:min(12, len(acct.ID))]
		info.IamRole = "SSMServiceRole"
		info.RegistrationDate = float64(or2(in.LaunchTime, defaultLaunchTime).Unix())
	} else {
		info.ResourceType = "EC2Instance"
		info.SourceType = "AWS::EC2::Instance"
		if in.InstanceProfile != "" {
			info.IamRole = in.InstanceProfile
		}
	}
	return info
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func or2(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// allTags returns the instance's tags with Name added from Name.
func (i *Instance) allTags() map[string]string {
	m := make(map[string]string, len(i.Tags)+1)
	for k, v := range i.Tags {
		m[k] = v
	}
	if i.Name != "" {
		m["Name"] = i.Name
	}
	return m
}

// computerName is the host name the agent reports: the fleet's value, or
// the EC2 private DNS name.
func (i *Instance) computerName() string {
	if i.ComputerName != "" || i.Managed() {
		return i.ComputerName
	}
	return i.PrivateDNS()
}

func ec2Domain(region string) string {
	if region == "us-east-1" {
		return "ec2.internal"
	}
	return region + ".compute.internal"
}

// PrivateDNS is the EC2 private DNS name derived from the private IP
// (ip-10-0-1-23.eu-west-1.compute.internal), empty for mi- nodes.
func (i *Instance) PrivateDNS() string {
	if i.Managed() || i.PrivateIP == "" {
		return ""
	}
	return "ip-" + strings.ReplaceAll(i.PrivateIP, ".", "-") + "." + ec2Domain(i.Region)
}

// PublicDNS is the EC2 public DNS name derived from the public IP.
func (i *Instance) PublicDNS() string {
	if i.Managed() || i.PublicIP == "" {
		return ""
	}
	zone := i.Region + ".compute.amazonaws.com"
	if i.Region == "us-east-1" {
		zone = "compute-1.amazonaws.com"
	}
	return "ec2-" + strings.ReplaceAll(i.PublicIP, ".", "-") + "." + zone
}

// PlatformDetails is EC2's platformDetails for the instance.
func (i *Instance) PlatformDetails() string {
	switch {
	case i.PlatformType == "Windows":
		return "Windows"
	case strings.HasPrefix(i.PlatformName, "Red Hat"):
		return "Red Hat Enterprise Linux"
	}
	return "Linux/UNIX"
}

// ---- EC2 DescribeInstances ----

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2InstanceXML struct {
	InstanceID    string `xml:"instanceId"`
	ImageID       string `xml:"imageId"`
	InstanceState struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNSName   string `xml:"privateDnsName"`
	DNSName          string `xml:"dnsName"`
	InstanceType     string `xml:"instanceType"`
	LaunchTime       string `xml:"launchTime"`
	AvailabilityZone string `xml:"placement>availabilityZone"`
	Platform         string `xml:"platform,omitempty"`
	PlatformDetails  string `xml:"platformDetails"`
	SubnetID         string `xml:"subnetId,omitempty"`
	VPCID            string `xml:"vpcId,omitempty"`
	PrivateIP        string `xml:"privateIpAddress,omitempty"`
	PublicIP         string `xml:"ipAddress,omitempty"`
	Architecture     string `xml:"architecture"`
	IAMProfile       *struct {
		ARN string `xml:"arn"`
		ID  string `xml:"id"`
	} `xml:"iamInstanceProfile,omitempty"`
	Tags []ec2Tag `xml:"tagSet>item"`

	// The rest of a real answer: the inventory does not read these, but a
	// decoder has to skip them (the nested privateIpAddress of a network
	// interface among them) and they make a page as large as a real one
	// (about 4.5 KB per instance).
	Reason                   string          `xml:"reason"`
	KeyName                  string          `xml:"keyName,omitempty"`
	AMILaunchIndex           int             `xml:"amiLaunchIndex"`
	Monitoring               string          `xml:"monitoring>state"`
	SourceDestCheck          bool            `xml:"sourceDestCheck"`
	Groups                   []ec2Group      `xml:"groupSet>item"`
	RootDeviceType           string          `xml:"rootDeviceType"`
	RootDeviceName           string          `xml:"rootDeviceName"`
	BlockDevices             []ec2BlockDev   `xml:"blockDeviceMapping>item"`
	VirtualizationType       string          `xml:"virtualizationType"`
	ClientToken              string          `xml:"clientToken"`
	Hypervisor               string          `xml:"hypervisor"`
	NetworkInterfaces        []ec2NetIf      `xml:"networkInterfaceSet>item"`
	EBSOptimized             bool            `xml:"ebsOptimized"`
	ENASupport               bool            `xml:"enaSupport"`
	CoreCount                int             `xml:"cpuOptions>coreCount"`
	ThreadsPerCore           int             `xml:"cpuOptions>threadsPerCore"`
	CapacityReservationPref  string          `xml:"capacityReservationSpecification>capacityReservationPreference"`
	HibernationConfigured    bool            `xml:"hibernationOptions>configured"`
	Metadata                 ec2MetadataOpts `xml:"metadataOptions"`
	EnclaveEnabled           bool            `xml:"enclaveOptions>enabled"`
	BootMode                 string          `xml:"bootMode"`
	UsageOperation           string          `xml:"usageOperation"`
	UsageOperationUpdateTime string          `xml:"usageOperationUpdateTime"`
	HostnameType             string          `xml:"privateDnsNameOptions>hostnameType"`
	DNSARecord               bool            `xml:"privateDnsNameOptions>enableResourceNameDnsARecord"`
	DNSAAAARecord            bool            `xml:"privateDnsNameOptions>enableResourceNameDnsAAAARecord"`
	AutoRecovery             string          `xml:"maintenanceOptions>autoRecovery"`
	CurrentBootMode          string          `xml:"currentInstanceBootMode"`
	BandwidthWeighting       string          `xml:"networkPerformanceOptions>bandwidthWeighting"`
	OperatorManaged          bool            `xml:"operator>managed"`
}

type ec2Group struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type ec2BlockDev struct {
	DeviceName          string `xml:"deviceName"`
	VolumeID            string `xml:"ebs>volumeId"`
	Status              string `xml:"ebs>status"`
	AttachTime          string `xml:"ebs>attachTime"`
	DeleteOnTermination bool   `xml:"ebs>deleteOnTermination"`
}

type ec2MetadataOpts struct {
	State        string `xml:"state"`
	HTTPTokens   string `xml:"httpTokens"`
	HopLimit     int    `xml:"httpPutResponseHopLimit"`
	HTTPEndpoint string `xml:"httpEndpoint"`
	IPv6         string `xml:"httpProtocolIpv6"`
	Tags         string `xml:"instanceMetadataTags"`
}

// ec2NetIf is a network interface of an instance. Its privateIpAddress and
// association sit inside the instance's item, at another depth than the
// instance's own.
type ec2NetIf struct {
	ID              string           `xml:"networkInterfaceId"`
	SubnetID        string           `xml:"subnetId"`
	VPCID           string           `xml:"vpcId"`
	Description     string           `xml:"description"`
	OwnerID         string           `xml:"ownerId"`
	Status          string           `xml:"status"`
	MACAddress      string           `xml:"macAddress"`
	PrivateIP       string           `xml:"privateIpAddress"`
	PrivateDNSName  string           `xml:"privateDnsName"`
	SourceDestCheck bool             `xml:"sourceDestCheck"`
	Groups          []ec2Group       `xml:"groupSet>item"`
	Attachment      ec2NetAttachment `xml:"attachment"`
	Association     *ec2NetAssoc     `xml:"association,omitempty"`
	PrivateIPs      []ec2NetPrivIP   `xml:"privateIpAddressesSet>item"`
	InterfaceType   string           `xml:"interfaceType"`
}

type ec2NetAttachment struct {
	ID                  string `xml:"attachmentId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

type ec2NetAssoc struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName"`
	IPOwnerID     string `xml:"ipOwnerId"`
}

type ec2NetPrivIP struct {
	PrivateIP      string       `xml:"privateIpAddress"`
	PrivateDNSName string       `xml:"privateDnsName"`
	Primary        bool         `xml:"primary"`
	Association    *ec2NetAssoc `xml:"association,omitempty"`
}

type ec2Reservation struct {
	ReservationID string           `xml:"reservationId"`
	OwnerID       string           `xml:"ownerId"`
	Instances     []ec2InstanceXML `xml:"instancesSet>item"`
	// rendered are instance documents already written by appendXML
	// (apiServer.instanceXML); appendXML writes them after Instances.
	rendered [][]byte
}

type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeInstancesResponse"`
	RequestID    string           `xml:"requestId"`
	Reservations []ec2Reservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

// ec2Filter is one Filter.N of an EC2 query request.
type ec2Filter struct {
	Name   string
	Values []string
	set    map[string]bool // instance-id values, built on first use
	wild   []string        // instance-id values with * or ?, found on first use
}

// ec2Filters parses Filter.N.Name / Filter.N.Value.M (EC2 allows 50 filters
// with 200 values each).
func ec2Filters(form map[string][]string) ([]ec2Filter, error) {
	var out []ec2Filter
	for n := 1; ; n++ {
		p := "Filter." + strconv.Itoa(n) + "."
		name := first(form[p+"Name"])
		if name == "" {
			break
		}
		f := ec2Filter{Name: name, Values: indexedList(form, p+"Value.")}
		if len(f.Values) > 200 {
			return nil, apiErr("FilterLimitExceeded", "The maximum number of filter values specified on a single call is 200")
		}
		out = append(out, f)
	}
	if len(out) > 50 {
		return nil, apiErr("FilterLimitExceeded", "The maximum number of filters is 50")
	}
	return out, nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// indexedList reads prefix1, prefix2, … until the first gap.
func indexedList(form map[string][]string, prefix string) []string {
	var out []string
	for m := 1; ; m++ {
		v, ok := form[prefix+strconv.Itoa(m)]
		if !ok {
			return out
		}
		out = append(out, first(v))
	}
}

var ec2StateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func (a *apiServer) describeInstances(r *APIRequest) (any, error) {
	if err := regionDisabled(r); err != nil {
		return nil, err
	}
	ids := indexedList(r.Form, "InstanceId.")
	filters, err := ec2Filters(r.Form)
	if err != nil {
		return nil, err
	}
	limit := -1
	if s := r.Form.Get("MaxResults"); s != "" {
		if len(ids) > 0 {
			return nil, apiErr("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 || n > 1000 {
			return nil, apiErr("InvalidParameterValue", "Value ( %s ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", s)
		}
		limit = n
	}
	for _, f := range filters {
		if !validEC2InstanceFilter(f.Name) {
			return nil, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
	}
	var sel []*Instance
	for _, id := range ids {
		if !strings.HasPrefix(id, "i-") || !validInstanceID(id) {
			return nil, apiErr("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		in, ok := r.Account.Instance(r.Region, id)
		if !ok {
			return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
		}
		if matchEC2Filters(in, filters) {
			sel = append(sel, in)
		}
	}
	if len(ids) == 0 {
		for _, in := range a.regionInstances(r.Account, r.Region) {
			if !in.Managed() && matchEC2Filters(in, filters) {
				sel = append(sel, in)
			}
		}
	}
	fh := hashOf([]any{ids, filters})
	offset := 0
	if tok := r.Form.Get("NextToken"); tok != "" {
		var ok bool
		if offset, ok = parsePageToken(tok, fh); !ok || offset > len(sel) {
			return nil, apiErr("InvalidParameterValue", "Unable to parse pagination token")
		}
	}
	end := len(sel)
	if limit > 0 {
		end = min(offset+limit, len(sel))
	}
	out := describeInstancesResponse{RequestID: r.RequestID}
	for _, in := range sel[offset:end] {
		out.Reservations = append(out.Reservations, ec2Reservation{
			ReservationID: "r-" + in.ID[2:],
			OwnerID:       r.Account.ID,
			rendered:      [][]byte{a.instanceXML(r.Account, in)},
		})
	}
	if end < len(sel) {
		out.NextToken = pageToken(end, fh)
	}
	return &out, nil
}

// regionInstances lists an account's instances in one region, in fleet
// order. The list is built once: the fleet does not change while the
// sandbox runs, and scanning a 10,000-instance account for every page of
// every region was a visible share of the scan benchmark's CPU.
func (a *apiServer) regionInstances(acct *Account, region string) []*Instance {
	type key struct {
		acct   *Account
		region string
	}
	k := key{acct, region}
	if v, ok := a.byRegion.Load(k); ok {
		return v.([]*Instance)
	}
	var list []*Instance
	for i := range acct.Instances {
		if acct.Instances[i].Region == region {
			list = append(list, &acct.Instances[i])
		}
	}
	a.byRegion.Store(k, list)
	return list
}

// instanceXML is ec2View(acct, in) with the security groups of the network
// model (network.go) written as XML, rendered once per
// instance: a fleet does not change once the sandbox runs, and rendering
// every page anew was a tenth of the CPU of a 10,000-instance scan
// benchmark that shares the machine with the scanner it measures.
func (a *apiServer) instanceXML(acct *Account, in *Instance) []byte {
	if b, ok := a.ec2XML.Load(in); ok {
		return b.([]byte)
	}
	x := ec2View(acct, in)
	if gs := a.net.instanceGroups(acct, in); gs != nil {
		// The instance's real groups from the network model.
		x.Groups = gs
		x.NetworkInterfaces[0].Groups = gs
	}
	b := x.appendXML(nil)
	a.ec2XML.Store(in, b)
	return b
}

var ec2InstanceFilterNames = []string{"instance-id", "instance-state-name", "instance-state-code", "instance-type",
	"private-ip-address", "private-dns-name", "ip-address", "dns-name", "vpc-id", "subnet-id", "availability-zone",
	"platform", "platform-details", "tag-key", "iam-instance-profile.arn", "reservation-id", "owner-id"}

func validEC2InstanceFilter(name string) bool {
	return slices.Contains(ec2InstanceFilterNames, name) || strings.HasPrefix(name, "tag:")
}

func matchEC2Filters(in *Instance, filters []ec2Filter) bool {
	state := or(in.State, "running")
	for i := range filters {
		f := &filters[i]
		var v []string
		switch f.Name {
		case "instance-id":
			if f.set == nil { // the common enrichment filter: up to 200 IDs
				f.set = make(map[string]bool, len(f.Values))
				for _, id := range f.Values {
					f.set[id] = true
					if strings.ContainsAny(id, "*?") {
						f.wild = append(f.wild, id)
					}
				}
			}
			if !f.set[in.ID] && !slices.ContainsFunc(f.wild, func(p string) bool { return ec2Match(p, in.ID) }) {
				return false
			}
			continue
		case "instance-state-name":
			v = []string{state}
		case "instance-state-code":
			v = []string{strconv.Itoa(ec2StateCodes[state])}
		case "instance-type":
			v = []string{or(in.InstanceType, "t3.micro")}
		case "private-ip-address":
			v = []string{in.PrivateIP}
		case "private-dns-name":
			v = []string{in.PrivateDNS()}
		case "ip-address":
			v = []string{in.PublicIP}
		case "dns-name":
			v = []string{in.PublicDNS()}
		case "vpc-id":
			v = []string{in.VPCID}
		case "subnet-id":
			v = []string{in.SubnetID}
		case "availability-zone":
			v = []string{in.az()}
		case "platform":
			if in.PlatformType == "Windows" {
				v = []string{"windows"}
			}
		case "platform-details":
			v = []string{in.PlatformDetails()}
		case "tag-key":
			for k := range in.allTags() {
				v = append(v, k)
			}
		case "iam-instance-profile.arn":
			v = []string{in.InstanceProfile}
		case "reservation-id":
			v = []string{"r-" + in.ID[2:]}
		default: // tag:<key>
			t, ok := in.allTags()[strings.TrimPrefix(f.Name, "tag:")]
			if !ok {
				return false
			}
			v = []string{t}
		}
		if !slices.ContainsFunc(v, func(s string) bool {
			return slices.ContainsFunc(f.Values, func(p string) bool { return ec2Match(p, s) })
		}) {
			return false
		}
	}
	return true
}

// ec2Match matches an EC2 filter value, where * and ? are wildcards.
func ec2Match(pattern, s string) bool {
	if !strings.ContainsAny(pattern, "*?") {
		return pattern == s
	}
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if ec2Match(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && ec2Match(pattern[1:], s[1:])
	}
	return s != "" && s[0] == pattern[0] && ec2Match(pattern[1:], s[1:])
}

func (i *Instance) az() string {
	if i.AZ != "" {
		return i.AZ
	}
	return i.Region + "a"
}

func ec2View(acct *Account, in *Instance) ec2InstanceXML {
	state := or(in.State, "running")
	x := ec2InstanceXML{
		InstanceID:       in.ID,
		ImageID:          "ami-" + in.ID[len(in.ID)-8:],
		PrivateDNSName:   in.PrivateDNS(),
		DNSName:          in.PublicDNS(),
		InstanceType:     or(in.InstanceType, "t3.micro"),
		LaunchTime:       or2(in.LaunchTime, defaultLaunchTime).UTC().Format("2006-01-02T15:04:05.000Z"),
		AvailabilityZone: in.az(),
		PlatformDetails:  in.PlatformDetails(),
		SubnetID:         in.SubnetID,
		VPCID:            in.VPCID,
		PrivateIP:        in.PrivateIP,
		PublicIP:         in.PublicIP,
		Architecture:     "x86_64",
	}
	if state == "stopped" || state == "terminated" {
		x.DNSName, x.PublicIP = "", ""
	}
	x.InstanceState.Name = state
	x.InstanceState.Code = ec2StateCodes[state]
	if in.PlatformType == "Windows" {
		x.Platform = "windows"
	}
	if in.InstanceProfile != "" {
		x.IAMProfile = &struct {
			ARN string `xml:"arn"`
			ID  string `xml:"id"`
		}{ARN: "arn:aws:iam::" + acct.ID + ":instance-profile/" + in.InstanceProfile, ID: "AIPA" + strings.ToUpper(hashOf(in.InstanceProfile))}
	}
	tags := in.allTags()
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		x.Tags = append(x.Tags, ec2Tag{Key: k, Value: tags[k]})
	}
	ec2Details(&x, acct, in)
	return x
}

// fnv64 is the 64-bit FNV-1a hash of s.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// ec2Details fills the parts of a real answer the inventory does not read,
// derived from the instance so that answers are stable. Its security group
// is a stand-in that instanceXML replaces with the network model's groups.
func ec2Details(x *ec2InstanceXML, acct *Account, in *Instance) {
	h := strconv.FormatUint(fnv64(in.ID)|1<<63, 16)
	launch := x.LaunchTime
	x.KeyName = "ops-" + acct.Profile
	x.Monitoring = "disabled"
	x.SourceDestCheck = true
	sg := ec2Group{GroupID: "sg-0" + h[:16], GroupName: "ssm-endpoints-" + h[:6]}
	x.Groups = []ec2Group{sg}
	x.RootDeviceType, x.RootDeviceName = "ebs", "/dev/xvda"
	x.BlockDevices = []ec2BlockDev{{DeviceName: "/dev/xvda", VolumeID: "vol-0" + h[:16], Status: "attached", AttachTime: launch, DeleteOnTermination: true}}
	x.VirtualizationType, x.Hypervisor = "hvm", "xen"
	x.ClientToken = "terraform-" + h
	if x.Platform == "windows" {
		x.RootDeviceName = "/dev/sda1"
	}
	ni := ec2NetIf{
		ID: "eni-0" + h[:16], SubnetID: x.SubnetID, VPCID: x.VPCID, OwnerID: acct.ID, Status: "in-use",
		MACAddress: fmt.Sprintf("0a:%s:%s:%s:%s:%s", h[0:2], h[2:4], h[4:6], h[6:8], h[8:10]),
		PrivateIP:  x.PrivateIP, PrivateDNSName: x.PrivateDNSName, SourceDestCheck: true, Groups: []ec2Group{sg},
		Attachment:    ec2NetAttachment{ID: "eni-attach-0" + h[:16], Status: "attached", AttachTime: launch, DeleteOnTermination: true},
		InterfaceType: "interface",
	}
	priv := ec2NetPrivIP{PrivateIP: x.PrivateIP, PrivateDNSName: x.PrivateDNSName, Primary: true}
	if x.PublicIP != "" {
		ni.Association = &ec2NetAssoc{PublicIP: x.PublicIP, PublicDNSName: x.DNSName, IPOwnerID: "amazon"}
		priv.Association = ni.Association
	}
	ni.PrivateIPs = []ec2NetPrivIP{priv}
	x.NetworkInterfaces = []ec2NetIf{ni}
	x.EBSOptimized, x.ENASupport = true, true
	x.CoreCount, x.ThreadsPerCore = 1, 2
	x.CapacityReservationPref = "open"
	x.Metadata = ec2MetadataOpts{State: "applied", HTTPTokens: "required", HopLimit: 2, HTTPEndpoint: "enabled", IPv6: "disabled", Tags: "disabled"}
	x.BootMode, x.CurrentBootMode = "uefi-preferred", "legacy-bios"
	x.UsageOperation, x.UsageOperationUpdateTime = "RunInstances", launch
	x.HostnameType, x.DNSARecord = "ip-name", true
	x.AutoRecovery, x.BandwidthWeighting = "default", "default"
}

// ---- EC2 DescribeRegions ----

// KnownRegions is the aws partition's region list (aws-apis.md §13), used
// for DescribeRegions with AllRegions=true.
var KnownRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1", "eu-west-1", "eu-west-2",
	"eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-southeast-1", "ap-southeast-2",
	"af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
	"ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1",
	"me-central-1", "me-south-1", "me-west-1", "mx-central-1", "sa-west-1",
}

type regionItem struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type describeRegionsResponse struct {
	XMLName   xml.Name     `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeRegionsResponse"`
	RequestID string       `xml:"requestId"`
	Regions   []regionItem `xml:"regionInfo>item"`
}

func (a *apiServer) describeRegions(r *APIRequest) (any, error) {
	if err := regionDisabled(r); err != nil {
		return nil, err
	}
	filters, err := ec2Filters(r.Form)
	if err != nil {
		return nil, err
	}
	for _, f := range filters {
		if f.Name != "region-name" && f.Name != "opt-in-status" && f.Name != "endpoint" {
			return nil, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
		}
	}
	all := r.Form.Get("AllRegions") == "true"
	names := indexedList(r.Form, "RegionName.")
	for _, n := range names {
		if !slices.Contains(KnownRegions, n) {
			return nil, apiErr("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	candidates := slices.Clone(r.Account.Regions)
	for _, n := range KnownRegions {
		if !slices.Contains(candidates, n) {
			candidates = append(candidates, n)
		}
	}
	out := describeRegionsResponse{RequestID: r.RequestID}
	for _, n := range candidates {
		item := regionItem{RegionName: n, RegionEndpoint: "ec2." + n + ".amazonaws.com", OptInStatus: "opt-in-not-required"}
		switch {
		case !r.Account.RegionEnabled(n):
			item.OptInStatus = "not-opted-in"
		case slices.Index(KnownRegions, n) >= 17:
			item.OptInStatus = "opted-in"
		}
		if item.OptInStatus == "not-opted-in" && !all && len(names) == 0 {
			continue
		}
		if len(names) > 0 && !slices.Contains(names, n) {
			continue
		}
		ok := true
		for _, f := range filters {
			v := map[string]string{"region-name": n, "opt-in-status": item.OptInStatus, "endpoint": item.RegionEndpoint}[f.Name]
			if !slices.ContainsFunc(f.Values, func(p string) bool { return ec2Match(p, v) }) {
				ok = false
			}
		}
		if ok {
			out.Regions = append(out.Regions, item)
		}
	}
	return out, nil
}

// ---- STS GetCallerIdentity ----

type getCallerIdentityResponse struct {
	XMLName   xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
	Arn       string   `xml:"GetCallerIdentityResult>Arn"`
	UserID    string   `xml:"GetCallerIdentityResult>UserId"`
	Account   string   `xml:"GetCallerIdentityResult>Account"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

func (a *apiServer) getCallerIdentity(r *APIRequest) (any, error) {
	if err := regionDisabled(r); err != nil {
		return nil, err
	}
	arn := r.Account.arn()
	return getCallerIdentityResponse{
		Arn:       arn,
		UserID:    "AIDA" + strings.ToUpper(hashOf(arn)),
		Account:   r.Account.ID,
		RequestID: r.RequestID,
	}, nil
}

// ---- STS AssumeRole ----

type assumeRoleResponse struct {
	XMLName         xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
	AccessKeyID     string   `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
	SecretAccessKey string   `xml:"AssumeRoleResult>Credentials>SecretAccessKey"`
	SessionToken    string   `xml:"AssumeRoleResult>Credentials>SessionToken"`
	Expiration      string   `xml:"AssumeRoleResult>Credentials>Expiration"`
	Arn             string   `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	AssumedRoleID   string   `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
	RequestID       string   `xml:"ResponseMetadata>RequestId"`
}

// assumeRole lets any sandbox account assume a role in any other: the
// answer carries the target account's access key, so later calls map to it.
// With SerialNumber (an MFA device) a six-digit TokenCode is required, which
// is what assume-role profiles with mfa_serial exercise.
func (a *apiServer) assumeRole(r *APIRequest) (any, error) {
	roleARN, session := r.Form.Get("RoleArn"), r.Form.Get("RoleSessionName")
	parts := strings.Split(roleARN, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "role/") || session == "" {
		return nil, apiErr("ValidationError", "1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint", roleARN)
	}
	if r.Form.Get("SerialNumber") != "" {
		code := r.Form.Get("TokenCode")
		if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
			return nil, &APIError{Status: http.StatusForbidden, Code: "AccessDenied", Message: "MultiFactorAuthentication failed with invalid MFA one time pass code."}
		}
	}
	var target *Account
	for i := range a.sb.fleet.Accounts {
		if a.sb.fleet.Accounts[i].ID == parts[4] {
			target = &a.sb.fleet.Accounts[i]
		}
	}
	if target == nil {
		return nil, &APIError{Status: http.StatusForbidden, Code: "AccessDenied", Message: fmt.Sprintf("User: %s is not authorized to perform: sts:AssumeRole on resource: %s", r.Account.arn(), roleARN)}
	}
	role := strings.TrimPrefix(parts[5], "role/")
	return assumeRoleResponse{
		AccessKeyID:     target.AccessKeyID,
		SecretAccessKey: target.SecretAccessKey,
		SessionToken:    "sandbox-session-" + hashOf(roleARN+session),
		Expiration:      a.sb.now().Add(time.Hour).UTC().Format(time.RFC3339),
		Arn:             "arn:aws:sts::" + target.ID + ":assumed-role/" + role + "/" + session,
		AssumedRoleID:   "AROA" + strings.ToUpper(hashOf(roleARN)) + ":" + session,
		RequestID:       r.RequestID,
	}, nil
}

// String renders a fleet instance for logs and test failures.
func (i Instance) String() string { return fmt.Sprintf("%s(%s/%s)", i.ID, i.Region, i.Name) }
