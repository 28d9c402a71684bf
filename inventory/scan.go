package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Page sizes of the real APIs (aws-apis.md §3, §4).
const (
	ssmPageSize  = 50  // DescribeInstanceInformation MaxResults upper bound
	ec2BatchSize = 200 // values per EC2 filter
	ec2PageSize  = 1000
)

// Options configures a Scanner. Profiles and LoadConfig are required.
type Options struct {
	// Profiles to scan. A Profile with SSO set gets *SSOExpiredError when its
	// credentials fail.
	Profiles []Profile
	// Regions limits the scan; empty means every enabled region of each
	// profile's account (DescribeRegions, or FallbackRegions when denied).
	Regions []string
	// LoadConfig returns the aws.Config of a profile: credentials chain,
	// endpoint, retryer, MFA token provider. Its Region is where
	// DescribeRegions and GetCallerIdentity are called (us-east-1 if empty).
	LoadConfig func(ctx context.Context, profile string) (aws.Config, error)
	// Concurrency bounds the (profile, region) scans running at once; default 16.
	Concurrency int
	// CallTimeout bounds each API call including the SDK's retries; default 30 s.
	CallTimeout time.Duration
	// CacheDir is where results are cached per profile; "" disables the cache.
	CacheDir string
	// SkipCacheRead makes Scan ignore the cache at start (it is still written).
	SkipCacheRead bool
	Logger        *slog.Logger // default: discard
	Now           func() time.Time
}

// Validate checks the required fields.
func (o Options) Validate() error {
	if len(o.Profiles) == 0 {
		return errors.New("inventory: Options.Profiles is empty")
	}
	if o.LoadConfig == nil {
		return errors.New("inventory: Options.LoadConfig is required")
	}
	return nil
}

// Scanner lists instances over profiles and regions. It holds no state
// between scans other than its options; Scan may be called repeatedly and
// concurrently.
type Scanner struct {
	opts Options
	log  *slog.Logger
}

// NewScanner returns a Scanner with defaults filled in. Call
// opts.Validate first to get a clear error; Scan reports invalid options
// as one failed Result.
func NewScanner(opts Options) *Scanner {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 16
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Scanner{opts: opts, log: opts.Logger.With("part", "inventory")}
}

// Scan emits the cached results of every profile (FromCache set), then a
// live Result per (profile, region) as each completes, and returns when all
// are done or ctx is canceled. emit is never called concurrently and never
// after Scan returns. Failures are Results with Err set; Scan itself cannot
// fail. Live results replace the profile's cache file; a region that failed
// keeps its previous cached rows.
func (s *Scanner) Scan(ctx context.Context, emit func(Result)) {
	var mu sync.Mutex
	safeEmit := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		emit(r)
	}
	if err := s.opts.Validate(); err != nil {
		safeEmit(Result{Err: err, Fetched: s.opts.Now()})
		return
	}
	var cached map[string][]Result
	if s.opts.CacheDir != "" {
		cached = map[string][]Result{}
		for _, p := range s.opts.Profiles {
			rs, err := LoadCache(s.opts.CacheDir, p.Name)
			if err != nil {
				s.log.Debug("ignore inventory cache", "profile", p.Name, "err", err)
				continue
			}
			cached[p.Name] = rs
			if !s.opts.SkipCacheRead {
				for _, r := range rs {
					safeEmit(r)
				}
			}
		}
	}
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for _, p := range s.opts.Profiles {
		wg.Go(func() {
			live := s.scanProfile(ctx, p, sem, safeEmit)
			if s.opts.CacheDir != "" && ctx.Err() == nil {
				s.saveCache(p.Name, live, cached[p.Name])
			}
		})
	}
	wg.Wait()
}

// saveCache merges the live results with the previous cache (regions that
// failed keep their old rows) and writes it.
func (s *Scanner) saveCache(profile string, live, old []Result) {
	byRegion := map[string]Result{}
	for _, r := range old {
		if r.Region != "" && r.Err == nil {
			byRegion[r.Region] = r
		}
	}
	for _, r := range live {
		if r.Region != "" && r.Err == nil {
			byRegion[r.Region] = r
		}
	}
	if len(byRegion) == 0 {
		return
	}
	rs := make([]Result, 0, len(byRegion))
	for _, r := range byRegion {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b Result) int { return cmp.Compare(a.Region, b.Region) })
	if err := SaveCache(s.opts.CacheDir, profile, rs); err != nil {
		s.log.Warn("write inventory cache", "profile", profile, "err", err)
	}
}

// scanProfile scans every region of one profile and returns the results it
// emitted.
func (s *Scanner) scanProfile(ctx context.Context, p Profile, sem chan struct{}, emit func(Result)) []Result {
	fail := func(err error) []Result {
		r := Result{Profile: p.Name, Err: err, Fetched: s.opts.Now()}
		emit(r)
		return []Result{r}
	}
	cfg, err := s.opts.LoadConfig(ctx, p.Name)
	if err != nil {
		return fail(ClassifyCredentialsError(p, err))
	}
	if cfg.Region == "" {
		cfg.Region = cmp.Or(p.Region, "us-east-1")
	}
	if cfg.Credentials != nil {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		_, err := cfg.Credentials.Retrieve(cctx)
		cancel()
		if err != nil {
			return fail(ClassifyCredentialsError(p, err))
		}
	}

	// Account ID and region list concurrently: both are on the critical path.
	var account string
	regions := s.opts.Regions
	var wg sync.WaitGroup
	wg.Go(func() {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		defer cancel()
		out, err := sts.NewFromConfig(cfg).GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			s.log.Debug("get caller identity", "profile", p.Name, "err", err)
			return
		}
		account = aws.ToString(out.Account)
	})
	if len(regions) == 0 {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
			defer cancel()
			rs, err := enabledRegions(cctx, ec2.NewFromConfig(cfg))
			if err != nil {
				s.log.Info("describe regions failed; scanning the default region list", "profile", p.Name, "err", err)
				rs = FallbackRegions
			}
			regions = rs
		})
	}
	wg.Wait()

	results := make([]Result, len(regions))
	var rwg sync.WaitGroup
	for i, region := range regions {
		rwg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Profile: p.Name, Region: region, Err: classify(p.Name, region, "scan", ctx.Err()), Fetched: s.opts.Now()}
				emit(results[i])
				return
			}
			r := s.scanRegion(ctx, cfg, p.Name, account, region)
			<-sem
			results[i] = r
			emit(r)
		})
	}
	rwg.Wait()
	return results
}

// scanRegion lists one region: SSM pages in sequence, and an EC2
// DescribeInstances call per 200 EC2 IDs started as soon as those IDs are
// known, so enrichment overlaps the remaining SSM pages.
func (s *Scanner) scanRegion(ctx context.Context, cfg aws.Config, profile, account, region string) Result {
	res := Result{Profile: profile, Region: region}
	ssmc := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.Region = region })
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Region = region })

	var (
		insts    []Instance
		pending  []string
		ec2wg    sync.WaitGroup
		ec2mu    sync.Mutex
		ec2By    = map[string]ownedInstance{}
		ec2Err   error
		ctx2, cn = context.WithCancel(ctx)
	)
	defer cn()
	enrich := func(ids []string) {
		ec2wg.Go(func() {
			got, err := s.describeEC2(ctx2, ec2c, ids)
			ec2mu.Lock()
			defer ec2mu.Unlock()
			if err != nil {
				if ec2Err == nil {
					ec2Err = err
				}
				return
			}
			for _, in := range got {
				ec2By[aws.ToString(in.instance.InstanceId)] = in
			}
		})
	}
	in := &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(ssmPageSize)}
	for {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		out, err := ssmc.DescribeInstanceInformation(cctx, in)
		cancel()
		if err != nil {
			cn()
			ec2wg.Wait()
			res.Err = classify(profile, region, "ssm:DescribeInstanceInformation", err)
			res.Fetched = s.opts.Now()
			return res
		}
		insts = slices.Grow(insts, len(out.InstanceInformationList))
		for i := range out.InstanceInformationList {
			inst := fromSSM(&out.InstanceInformationList[i])
			inst.Profile, inst.Account, inst.Region = profile, account, region
			if strings.HasPrefix(inst.ID, "i-") {
				pending = append(pending, inst.ID)
			}
			insts = append(insts, inst)
		}
		for len(pending) >= ec2BatchSize {
			enrich(pending[:ec2BatchSize:ec2BatchSize])
			pending = pending[ec2BatchSize:]
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(pending) > 0 {
		enrich(pending)
	}
	ec2wg.Wait()
	res.Fetched = s.opts.Now()
	if ec2Err != nil {
		res.Partial = classify(profile, region, "ec2:DescribeInstances", ec2Err)
		s.log.Warn("ec2 enrichment failed; rows carry SSM data only", "profile", profile, "region", region, "err", ec2Err)
	}
	for i := range insts {
		inst := &insts[i]
		if e, ok := ec2By[inst.ID]; ok {
			mergeEC2(inst, e.instance)
			inst.Account = cmp.Or(inst.Account, e.owner) // GetCallerIdentity may have failed
		}
	}
	res.Instances = insts
	slices.SortFunc(res.Instances, func(a, b Instance) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return res
}

// describeEC2 fetches the given EC2 instances: an instance-id filter (not
// InstanceId.N, which fails as a whole on one terminated ID) plus
// MaxResults, which also keeps the call in EC2's larger throttling bucket.
// ownedInstance is an EC2 instance with its reservation's owner account.
type ownedInstance struct {
	instance *ec2types.Instance // points into the page it came in
	owner    string
}

func (s *Scanner) describeEC2(ctx context.Context, c *ec2.Client, ids []string) ([]ownedInstance, error) {
	in := &ec2.DescribeInstancesInput{
		Filters:    []ec2types.Filter{{Name: aws.String("instance-id"), Values: ids}},
		MaxResults: aws.Int32(ec2PageSize),
	}
	var out []ownedInstance
	for {
		cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
		page, err := c.DescribeInstances(cctx, in, withLeanDecoder)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("describe %d instances: %w", len(ids), err)
		}
		for _, r := range page.Reservations {
			for j := range r.Instances {
				out = append(out, ownedInstance{&r.Instances[j], aws.ToString(r.OwnerId)})
			}
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// fromSSM is the SSM half of an Instance.
func fromSSM(info *ssmtypes.InstanceInformation) Instance {
	inst := Instance{
		ID:              aws.ToString(info.InstanceId),
		PingStatus:      string(info.PingStatus),
		AgentVersion:    aws.ToString(info.AgentVersion),
		IsLatestVersion: aws.ToBool(info.IsLatestVersion),
		PlatformType:    string(info.PlatformType),
		PlatformName:    aws.ToString(info.PlatformName),
		PlatformVersion: aws.ToString(info.PlatformVersion),
		ResourceType:    string(info.ResourceType),
		ComputerName:    aws.ToString(info.ComputerName),
		PrivateIP:       aws.ToString(info.IPAddress),
		LastPing:        utc(aws.ToTime(info.LastPingDateTime)),
	}
	if strings.HasPrefix(inst.ID, "mi-") {
		inst.Name = cmp.Or(aws.ToString(info.Name), inst.ComputerName)
	}
	return inst
}

// mergeEC2 adds the EC2 half: Name tag, tags, state, network, profile.
func mergeEC2(inst *Instance, e *ec2types.Instance) {
	if len(e.Tags) > 0 {
		inst.Tags = make(map[string]string, len(e.Tags))
		for _, t := range e.Tags {
			inst.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		inst.Name = inst.Tags["Name"]
	}
	if e.State != nil {
		inst.State = string(e.State.Name)
	}
	inst.InstanceType = string(e.InstanceType)
	inst.PrivateIP = cmp.Or(aws.ToString(e.PrivateIpAddress), inst.PrivateIP)
	inst.PublicIP = aws.ToString(e.PublicIpAddress)
	inst.PrivateDNS = aws.ToString(e.PrivateDnsName)
	inst.PublicDNS = aws.ToString(e.PublicDnsName)
	inst.VPCID = aws.ToString(e.VpcId)
	inst.SubnetID = aws.ToString(e.SubnetId)
	if e.Placement != nil {
		inst.AvailabilityZone = aws.ToString(e.Placement.AvailabilityZone)
	}
	inst.PlatformDetails = aws.ToString(e.PlatformDetails)
	inst.LaunchTime = utc(aws.ToTime(e.LaunchTime))
	if e.IamInstanceProfile != nil {
		inst.IAMInstanceProfile = aws.ToString(e.IamInstanceProfile.Arn)
	}
}

// utc keeps zero times zero and puts others in UTC, so results compare
// equal after a cache round trip.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
