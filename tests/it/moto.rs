//! A real AWS API in the tests: moto's server (PyPI `moto[server]`) on loopback, a whole-path
//! scenario built through the AWS CLI (its own driver, `awscli.clidriver`, kept in one process),
//! `scripts/dump-aws.sh` against it (the `aws` command, as users run it), and the real binary
//! importing and validating the dump.
//!
//! Nothing here talks to AWS. Every CLI call carries `--endpoint-url http://127.0.0.1:PORT` (the
//! moto server this test started), with a cleared environment: dummy credentials, no
//! configuration or credentials file (`HOME` is the test's directory), no instance metadata.
//!
//! moto and the AWS CLI live in a Python virtual environment that `scripts/test.sh` creates
//! (`PROBE_TEST_PYENV`, default `<target dir>/pyenv`, pinned in `scripts/moto-requirements.txt`);
//! `jq` comes from Debian. Without them the test says so and passes, except under `CI=true`, where
//! a missing tool fails it. Where moto's answers differ from AWS's, docs/import-aws.md ("Tested
//! against moto") lists it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use probe::model::{LbKind, Model, RouteState, RouteTargetKind, Scheme};
use serde_json::Value;

use crate::lab::probe_bin;

const REGION: &str = "eu-west-1";

/// The virtual environment with `moto_server` and `aws`.
fn pyenv() -> PathBuf {
    match std::env::var_os("PROBE_TEST_PYENV") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target directory holds tmp/")
            .join("pyenv"),
    }
}

/// The tools, or `None` (after saying why) when one is missing outside CI.
fn tools() -> Option<PathBuf> {
    let env = pyenv();
    let mut missing = Vec::new();
    for bin in ["moto_server", "aws"] {
        if !env.join("bin").join(bin).is_file() {
            missing.push(env.join("bin").join(bin).display().to_string());
        }
    }
    if Command::new("jq").arg("--version").output().is_err() {
        missing.push("jq".to_string());
    }
    if missing.is_empty() {
        return Some(env);
    }
    let why = format!(
        "the moto test needs {}; scripts/test.sh installs them (a venv with \
         scripts/moto-requirements.txt, and Debian's jq); PROBE_TEST_PYENV names another venv",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why} (CI=true: a missing tool is a failure, not a skip)");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// A moto server on 127.0.0.1, stopped on drop.
struct Moto {
    child: Child,
    url: String,
    env: PathBuf,
    dir: PathBuf,
    /// The AWS CLI's driver in one Python process, started on first use.
    cli: Mutex<Option<Cli>>,
}

/// `awscli.clidriver`, what the `aws` command runs, kept in one process: a scenario of sixty
/// calls then costs one interpreter start instead of sixty (half a second of CPU each). It reads
/// one JSON array of arguments a line and answers each with `{"rc", "out", "err"}`.
struct Cli {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

const CLI_DRIVER: &str = r#"
import contextlib, io, json, sys
from awscli.clidriver import create_clidriver
driver = create_clidriver()
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = driver.main(json.loads(line))
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 255
    sys.stdout.write(json.dumps({"rc": rc, "out": out.getvalue(), "err": err.getvalue()}) + "\n")
    sys.stdout.flush()
"#;

impl Moto {
    fn start(env: PathBuf, dir: PathBuf) -> Moto {
        let log = dir.join("moto.log");
        // A free port: bind, note, release. Another process may take it in between; then moto
        // exits and the next port is tried.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let out = std::fs::File::create(&log).expect("moto log");
            let child = Command::new(env.join("bin/moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env_clear()
                .env("PATH", path_with(&env))
                .env("HOME", &dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("log"))
                .stderr(out)
                .spawn()
                .expect("start moto_server");
            let mut moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
                env: env.clone(),
                dir: dir.clone(),
                cli: Mutex::new(None),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return moto;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = moto.child.kill();
        }
        panic!(
            "moto_server did not start; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// A command with the cleared environment every AWS CLI call and the dump script get.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", path_with(&self.env))
            .env("HOME", &self.dir)
            .env("LC_ALL", "C.UTF-8")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_SESSION_TOKEN", "testing")
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .stdin(Stdio::null());
        c
    }

    /// `aws ARGS` against moto: its JSON answer (`null` when it prints nothing).
    fn aws(&self, args: &[&str]) -> Value {
        let mut argv: Vec<&str> = vec!["--endpoint-url", &self.url, "--region", REGION];
        argv.extend(["--output", "json"]);
        argv.extend(args);
        let mut cli = self.cli.lock().expect("the CLI driver");
        let cli = cli.get_or_insert_with(|| {
            let mut child = self
                .command(self.env.join("bin/python"))
                .args(["-c", CLI_DRIVER])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the AWS CLI's driver");
            Cli {
                stdin: child.stdin.take().expect("stdin"),
                stdout: BufReader::new(child.stdout.take().expect("stdout")),
                child,
            }
        });
        let mut line = serde_json::to_string(&argv).expect("JSON");
        line.push('\n');
        cli.stdin
            .write_all(line.as_bytes())
            .expect("write to the CLI driver");
        let mut answer = String::new();
        cli.stdout
            .read_line(&mut answer)
            .expect("read the CLI driver");
        let answer: Value = serde_json::from_str(&answer).unwrap_or_else(|e| {
            panic!(
                "aws {}: the driver answered {answer:?}: {e}",
                args.join(" ")
            )
        });
        assert_eq!(
            answer["rc"],
            0,
            "aws {}: {}",
            args.join(" "),
            answer["err"].as_str().unwrap_or_default()
        );
        let text = answer["out"].as_str().unwrap_or_default();
        if text.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(text).unwrap_or_else(|e| panic!("aws {}: {e}: {text}", args[1]))
    }

    /// Calls that do not depend on each other, in order.
    fn all(&self, calls: &[Vec<String>]) -> Vec<Value> {
        calls
            .iter()
            .map(|args| self.aws(&args.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect()
    }

    /// Runs scripts/dump-aws.sh with `args` against this server.
    fn dump(&self, args: &[&str]) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dump-aws.sh");
        self.command("bash")
            .arg(script)
            .args(["--endpoint-url", &self.url, "--region", REGION])
            .args(args)
            .output()
            .expect("run scripts/dump-aws.sh")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // (A call that panicked poisoned the lock; the driver still has to go.)
        let cli = match self.cli.get_mut() {
            Ok(cli) => cli.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(mut cli) = cli {
            let _ = cli.child.kill();
            let _ = cli.child.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn path_with(env: &Path) -> String {
    let rest = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_string());
    format!("{}:{rest}", env.join("bin").display())
}

/// `args` as owned strings, for [`Moto::all`].
fn call(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
        .to_string()
}

/// What the scenario created.
struct Scenario {
    vpc: String,
    public: [String; 2],
    private: [String; 2],
    igw: String,
    nat: String,
    /// A NAT gateway deleted after a route to it was made: AWS shows that route as a blackhole.
    dead_nat: String,
    public_rt: String,
    private_rt: String,
    alb_sg: String,
    web_sg: String,
    acl: String,
    instances: [String; 2],
    alb: String,
    nlb: String,
    blue: String,
    green: String,
    tcp: String,
}

const INSTANCE_IPS: [&str; 2] = ["10.20.10.10", "10.20.11.10"];

/// An internet-facing ALB (weighted forward to two target groups, plus a rule), an NLB with client
/// IP preservation, a Classic Load Balancer, two instances in private subnets behind a custom
/// network ACL, public and private route tables through an internet and a NAT gateway.
fn build(m: &Moto) -> Scenario {
    // Phase 1: nothing depends on anything.
    let r = m.all(&[
        call(&["ec2", "create-vpc", "--cidr-block", "10.20.0.0/16"]),
        call(&["ec2", "create-internet-gateway"]),
        call(&["ec2", "allocate-address", "--domain", "vpc"]),
        call(&["ec2", "allocate-address", "--domain", "vpc"]),
        call(&["ec2", "describe-images", "--owners", "amazon"]),
    ]);
    let vpc = text(&r[0], "/Vpc/VpcId");
    let igw = text(&r[1], "/InternetGateway/InternetGatewayId");
    let (eip, eip2) = (text(&r[2], "/AllocationId"), text(&r[3], "/AllocationId"));
    let ami = text(&r[4], "/Images/0/ImageId");

    // Phase 2: in the VPC.
    let subnet = |cidr: &str, zone: &str| {
        call(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            cidr,
            "--availability-zone",
            zone,
        ])
    };
    let group = |name: &str| {
        call(&[
            "ec2",
            "create-security-group",
            "--vpc-id",
            &vpc,
            "--group-name",
            name,
            "--description",
            name,
        ])
    };
    let r = m.all(&[
        subnet("10.20.0.0/24", "eu-west-1a"),
        subnet("10.20.1.0/24", "eu-west-1b"),
        subnet("10.20.10.0/24", "eu-west-1a"),
        subnet("10.20.11.0/24", "eu-west-1b"),
        call(&[
            "ec2",
            "attach-internet-gateway",
            "--internet-gateway-id",
            &igw,
            "--vpc-id",
            &vpc,
        ]),
        call(&["ec2", "create-route-table", "--vpc-id", &vpc]),
        call(&["ec2", "create-route-table", "--vpc-id", &vpc]),
        group("alb"),
        group("web"),
        call(&["ec2", "create-network-acl", "--vpc-id", &vpc]),
    ]);
    let id = |i: usize| text(&r[i], "/Subnet/SubnetId");
    let public = [id(0), id(1)];
    let private = [id(2), id(3)];
    let public_rt = text(&r[5], "/RouteTable/RouteTableId");
    let private_rt = text(&r[6], "/RouteTable/RouteTableId");
    let alb_sg = text(&r[7], "/GroupId");
    let web_sg = text(&r[8], "/GroupId");
    let acl = text(&r[9], "/NetworkAcl/NetworkAclId");

    // Phase 3: gateways, rules, instances, load balancers and target groups.
    let entry = |egress: bool, number: &str, proto: &str, ports: Option<&str>, cidr: &str| {
        let mut c = call(&[
            "ec2",
            "create-network-acl-entry",
            "--network-acl-id",
            &acl,
            if egress { "--egress" } else { "--ingress" },
            "--rule-number",
            number,
            "--protocol",
            proto,
            "--cidr-block",
            cidr,
            "--rule-action",
            "allow",
        ]);
        match ports {
            Some(p) => c.extend(call(&["--port-range", p])),
            None if proto == "1" => c.extend(call(&["--icmp-type-code", "Type=-1,Code=-1"])),
            None => {}
        }
        c
    };
    let associate = |rt: &str, subnet: &str| {
        call(&[
            "ec2",
            "associate-route-table",
            "--route-table-id",
            rt,
            "--subnet-id",
            subnet,
        ])
    };
    let instance = |subnet: &str, ip: &str| {
        call(&[
            "ec2",
            "run-instances",
            "--image-id",
            &ami,
            "--instance-type",
            "t3.micro",
            "--subnet-id",
            subnet,
            "--security-group-ids",
            &web_sg,
            "--private-ip-address",
            ip,
        ])
    };
    let target_group = |name: &str, proto: &str, port: &str, kind: &str, extra: &[&str]| {
        let mut c = call(&[
            "elbv2",
            "create-target-group",
            "--name",
            name,
            "--protocol",
            proto,
            "--port",
            port,
            "--vpc-id",
            &vpc,
            "--target-type",
            kind,
        ]);
        c.extend(call(extra));
        c
    };
    let lb = |name: &str, kind: &str| {
        let mut c = call(&[
            "elbv2",
            "create-load-balancer",
            "--name",
            name,
            "--type",
            kind,
            "--scheme",
            "internet-facing",
            "--subnets",
            &public[0],
            &public[1],
        ]);
        if kind == "application" {
            c.extend(call(&["--security-groups", &alb_sg]));
        }
        c
    };
    let r = m.all(&[
        call(&[
            "ec2",
            "create-nat-gateway",
            "--subnet-id",
            &public[0],
            "--allocation-id",
            &eip,
        ]),
        call(&[
            "ec2",
            "create-nat-gateway",
            "--subnet-id",
            &public[1],
            "--allocation-id",
            &eip2,
        ]),
        instance(&private[0], INSTANCE_IPS[0]),
        instance(&private[1], INSTANCE_IPS[1]),
        lb("web-alb", "application"),
        lb("tcp-nlb", "network"),
        target_group(
            "web-blue",
            "HTTP",
            "8080",
            "instance",
            &["--health-check-path", "/health", "--matcher", "HttpCode=200-299"],
        ),
        target_group("web-green", "HTTP", "8080", "ip", &["--health-check-port", "8081"]),
        target_group("tcp-ip", "TCP", "9000", "ip", &[]),
        call(&[
            "elb",
            "create-load-balancer",
            "--load-balancer-name",
            "classic",
            "--listeners",
            "Protocol=HTTP,LoadBalancerPort=80,InstanceProtocol=HTTP,InstancePort=8080",
            "--subnets",
            &public[0],
            &public[1],
            "--security-groups",
            &alb_sg,
            "--scheme",
            "internet-facing",
        ]),
        call(&[
            "ec2",
            "create-route",
            "--route-table-id",
            &public_rt,
            "--destination-cidr-block",
            "0.0.0.0/0",
            "--gateway-id",
            &igw,
        ]),
        associate(&public_rt, &public[0]),
        associate(&public_rt, &public[1]),
        associate(&private_rt, &private[0]),
        associate(&private_rt, &private[1]),
        call(&[
            "ec2",
            "authorize-security-group-ingress",
            "--group-id",
            &alb_sg,
            "--ip-permissions",
            "IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=0.0.0.0/0,Description=clients}]",
        ]),
        call(&[
            "ec2",
            "authorize-security-group-ingress",
            "--group-id",
            &web_sg,
            "--ip-permissions",
            &format!("IpProtocol=tcp,FromPort=8080,ToPort=8080,UserIdGroupPairs=[{{GroupId={alb_sg}}}]"),
            "IpProtocol=icmp,FromPort=8,ToPort=-1,IpRanges=[{CidrIp=10.20.0.0/16}]",
        ]),
        call(&[
            "ec2",
            "authorize-security-group-egress",
            "--group-id",
            &alb_sg,
            "--ip-permissions",
            &format!("IpProtocol=tcp,FromPort=8080,ToPort=8080,UserIdGroupPairs=[{{GroupId={web_sg}}}]"),
        ]),
        // The private subnets' ACL: the load balancer subnets in on 8080 and ICMP from the VPC,
        // replies in from anywhere, replies out to the load balancer subnets, anything else out.
        entry(false, "100", "6", Some("From=8080,To=8080"), "10.20.0.0/23"),
        entry(false, "110", "1", None, "10.20.0.0/16"),
        entry(false, "120", "6", Some("From=1024,To=65535"), "0.0.0.0/0"),
        entry(true, "100", "6", Some("From=1024,To=65535"), "10.20.0.0/23"),
        entry(true, "110", "-1", None, "0.0.0.0/0"),
        call(&[
            "ec2",
            "describe-network-acls",
            "--filters",
            &format!("Name=vpc-id,Values={vpc}"),
        ]),
    ]);
    let nat = text(&r[0], "/NatGateway/NatGatewayId");
    let dead_nat = text(&r[1], "/NatGateway/NatGatewayId");
    let instances = [
        text(&r[2], "/Instances/0/InstanceId"),
        text(&r[3], "/Instances/0/InstanceId"),
    ];
    let alb = text(&r[4], "/LoadBalancers/0/LoadBalancerArn");
    let nlb = text(&r[5], "/LoadBalancers/0/LoadBalancerArn");
    let blue = text(&r[6], "/TargetGroups/0/TargetGroupArn");
    let green = text(&r[7], "/TargetGroups/0/TargetGroupArn");
    let tcp = text(&r[8], "/TargetGroups/0/TargetGroupArn");
    // The private subnets' current (default ACL) associations, to move them to the custom ACL.
    let acls = &r[r.len() - 1];
    let association = |subnet: &str| {
        acls["NetworkAcls"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["Associations"].as_array().cloned().unwrap_or_default())
            .find(|a| a["SubnetId"] == subnet)
            .map(|a| text(&a, "/NetworkAclAssociationId"))
            .unwrap_or_else(|| panic!("no ACL association of {subnet} in {acls}"))
    };

    // Phase 4: what needs the gateways, instances, groups and load balancers.
    let weighted = format!(
        r#"[{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"TargetGroupArn":"{blue}","Weight":80}},{{"TargetGroupArn":"{green}","Weight":20}}]}}}}]"#
    );
    let route = |cidr: &str, nat: &str| {
        call(&[
            "ec2",
            "create-route",
            "--route-table-id",
            &private_rt,
            "--destination-cidr-block",
            cidr,
            "--nat-gateway-id",
            nat,
        ])
    };
    let r = m.all(&[
        route("0.0.0.0/0", &nat),
        route("192.168.0.0/16", &dead_nat),
        call(&[
            "ec2",
            "replace-network-acl-association",
            "--association-id",
            &association(&private[0]),
            "--network-acl-id",
            &acl,
        ]),
        call(&[
            "ec2",
            "replace-network-acl-association",
            "--association-id",
            &association(&private[1]),
            "--network-acl-id",
            &acl,
        ]),
        call(&[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            &blue,
            "--targets",
            &format!("Id={}", instances[0]),
            &format!("Id={}", instances[1]),
        ]),
        call(&[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            &green,
            "--targets",
            &format!("Id={},Port=8080", INSTANCE_IPS[0]),
            &format!("Id={},Port=8080", INSTANCE_IPS[1]),
        ]),
        call(&[
            "elbv2",
            "register-targets",
            "--target-group-arn",
            &tcp,
            "--targets",
            &format!("Id={}", INSTANCE_IPS[0]),
            &format!("Id={}", INSTANCE_IPS[1]),
        ]),
        call(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &alb,
            "--protocol",
            "HTTP",
            "--port",
            "80",
            "--default-actions",
            &weighted,
        ]),
        call(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &nlb,
            "--protocol",
            "TCP",
            "--port",
            "9000",
            "--default-actions",
            &format!("Type=forward,TargetGroupArn={tcp}"),
        ]),
        call(&[
            "elbv2",
            "modify-target-group-attributes",
            "--target-group-arn",
            &blue,
            "--attributes",
            "Key=load_balancing.cross_zone.enabled,Value=false",
        ]),
        call(&[
            "elbv2",
            "modify-target-group-attributes",
            "--target-group-arn",
            &tcp,
            "--attributes",
            "Key=preserve_client_ip.enabled,Value=true",
        ]),
        call(&[
            "elbv2",
            "modify-load-balancer-attributes",
            "--load-balancer-arn",
            &nlb,
            "--attributes",
            "Key=load_balancing.cross_zone.enabled,Value=true",
        ]),
        call(&[
            "elb",
            "register-instances-with-load-balancer",
            "--load-balancer-name",
            "classic",
            "--instances",
            &instances[0],
            &instances[1],
        ]),
        call(&[
            "elb",
            "configure-health-check",
            "--load-balancer-name",
            "classic",
            "--health-check",
            "Target=HTTP:8080/health,Interval=10,Timeout=5,UnhealthyThreshold=2,HealthyThreshold=3",
        ]),
        call(&[
            "elb",
            "modify-load-balancer-attributes",
            "--load-balancer-name",
            "classic",
            "--load-balancer-attributes",
            r#"{"CrossZoneLoadBalancing":{"Enabled":true}}"#,
        ]),
    ]);
    let listener = text(&r[7], "/Listeners/0/ListenerArn");

    // Phase 5: a rule on the ALB's listener; the NAT gateway behind the 192.168.0.0/16 route
    // goes away.
    m.all(&[
        call(&[
            "elbv2",
            "create-rule",
            "--listener-arn",
            &listener,
            "--priority",
            "10",
            "--conditions",
            "Field=path-pattern,Values=/green/*",
            "--actions",
            &format!("Type=forward,TargetGroupArn={green}"),
        ]),
        call(&["ec2", "delete-nat-gateway", "--nat-gateway-id", &dead_nat]),
    ]);

    Scenario {
        vpc,
        public,
        private,
        igw,
        nat,
        dead_nat,
        public_rt,
        private_rt,
        alb_sg,
        web_sg,
        acl,
        instances,
        alb,
        nlb,
        blue,
        green,
        tcp,
    }
}

/// The JSON files of a dump directory: file name → document.
fn read_dump(dir: &Path) -> Vec<(String, Value)> {
    let mut files: Vec<(String, Value)> = std::fs::read_dir(dir)
        .expect("read the dump")
        .map(|e| e.expect("dump entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read a dump file");
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, doc)
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// The documents of `files` whose top-level keys are exactly `keys`.
fn with_keys<'a>(files: &'a [(String, Value)], keys: &[&str]) -> Vec<&'a Value> {
    let want: BTreeSet<&str> = keys.iter().copied().collect();
    files
        .iter()
        .filter(|(_, v)| {
            v.as_object()
                .is_some_and(|o| o.keys().map(String::as_str).collect::<BTreeSet<_>>() == want)
        })
        .map(|(_, v)| v)
        .collect()
}

/// The dump script against moto: every call it documents, the per-resource outputs wrapped with
/// their resource's id, the VPC filter, and a failed call named with nothing left behind.
fn assert_dump(m: &Moto, s: &Scenario, dir: &Path) -> Vec<(String, Value)> {
    let out = m.dump(&["-o", dir.to_str().expect("utf-8"), "--vpc", &s.vpc]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dump-aws.sh failed: {stderr}{stdout}");
    assert!(stdout.contains("wrote"), "{stdout}");
    let files = read_dump(dir);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();

    // One document of each listed command.
    for key in [
        "Vpcs",
        "Subnets",
        "SecurityGroups",
        "SecurityGroupRules",
        "NetworkAcls",
        "RouteTables",
        "InternetGateways",
        "NatGateways",
        "VpcPeeringConnections",
        "NetworkInterfaces",
        "Reservations",
        "PrefixLists",
        "LoadBalancers",
        "TargetGroups",
        "LoadBalancerDescriptions",
    ] {
        assert!(
            !with_keys(&files, &[key]).is_empty(),
            "no {key} document in {names:?}"
        );
    }
    // The VPC filter: only the scenario's VPC and its four subnets.
    let vpcs = with_keys(&files, &["Vpcs"]);
    assert_eq!(vpcs[0]["Vpcs"].as_array().map(Vec::len), Some(1));
    assert_eq!(vpcs[0]["Vpcs"][0]["VpcId"], s.vpc.as_str());
    let subnets: BTreeSet<&str> = with_keys(&files, &["Subnets"])[0]["Subnets"]
        .as_array()
        .expect("Subnets")
        .iter()
        .filter_map(|x| x["SubnetId"].as_str())
        .collect();
    let created: BTreeSet<&str> = s
        .public
        .iter()
        .chain(&s.private)
        .map(String::as_str)
        .collect();
    assert_eq!(subnets, created);

    // Per-resource outputs, wrapped with their resource's id, one file each.
    let wrapped = |keys: &[&str], id_key: &str| -> BTreeSet<String> {
        with_keys(&files, keys)
            .iter()
            .map(|v| v[id_key].as_str().expect("wrapper id").to_string())
            .collect()
    };
    let tgs: BTreeSet<String> = [&s.blue, &s.green, &s.tcp].map(String::clone).into();
    let lbs: BTreeSet<String> = [&s.alb, &s.nlb].map(String::clone).into();
    assert_eq!(
        wrapped(
            &["TargetGroupArn", "TargetHealthDescriptions"],
            "TargetGroupArn"
        ),
        tgs
    );
    assert_eq!(
        wrapped(&["TargetGroupArn", "Attributes"], "TargetGroupArn"),
        tgs
    );
    assert_eq!(
        wrapped(&["LoadBalancerArn", "Attributes"], "LoadBalancerArn"),
        lbs
    );
    assert_eq!(
        wrapped(&["LoadBalancerName", "InstanceStates"], "LoadBalancerName"),
        ["classic".to_string()].into()
    );
    assert_eq!(
        wrapped(
            &["LoadBalancerName", "LoadBalancerAttributes"],
            "LoadBalancerName"
        ),
        ["classic".to_string()].into()
    );
    let listeners: Vec<Value> = with_keys(&files, &["Listeners"])
        .iter()
        .flat_map(|v| v["Listeners"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(
        listeners.len(),
        2,
        "the ALB's and the NLB's listener: {names:?}"
    );
    for l in &listeners {
        assert!(
            lbs.contains(l["LoadBalancerArn"].as_str().unwrap_or_default()),
            "{l}"
        );
    }
    let rules = with_keys(&files, &["ListenerArn", "Rules"]);
    assert_eq!(rules.len(), 2, "one rules file per listener: {names:?}");
    assert!(
        rules
            .iter()
            .any(|r| r["Rules"].as_array().is_some_and(|a| a.len() == 2)),
        "the ALB listener's rule and default rule"
    );

    // A failed call is named, and no directory is left behind (-j 1: the first call,
    // describe-vpcs, fails before another starts).
    let bad = dir.with_file_name("no-such-vpc");
    let out = m.dump(&[
        "-o",
        bad.to_str().expect("utf-8"),
        "--vpc",
        "vpc-0000000000000000f",
        "-j",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("failed") && err.contains("describe-vpcs"),
        "{err}"
    );
    assert!(!bad.exists(), "a failed dump left {}", bad.display());
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().expect("parent"))
        .expect("read")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".dump-aws"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary directories left: {leftovers:?}"
    );
    files
}

fn run_probe(args: &[&str]) -> Output {
    Command::new(probe_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run probe")
}

#[test]
fn a_dump_of_moto_imports_with_its_routes_and_load_balancers() {
    let Some(env) = tools() else { return };
    let dir = std::env::temp_dir().join(format!("probe-moto-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test directory");
    let started = Instant::now();
    let m = Moto::start(env, dir.clone());
    let s = build(&m);
    let built = started.elapsed();
    let dump = dir.join("dump");
    assert_dump(&m, &s, &dump);
    eprintln!(
        "moto scenario built in {:.1} s, dumped in {:.1} s",
        built.as_secs_f64(),
        (started.elapsed() - built).as_secs_f64()
    );
    let dump = dump.to_str().expect("utf-8");

    // probe import: exit 0 and the native YAML, read back as the model.
    let out = run_probe(&["import", "aws", dump]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "probe import: {stderr}");
    let yaml = String::from_utf8_lossy(&out.stdout);
    std::fs::write(dir.join("imported.yaml"), yaml.as_bytes()).expect("keep the YAML");
    let model: Model = serde_norway::from_str(&yaml)
        .unwrap_or_else(|e| panic!("the imported YAML is not a model: {e}\n{yaml}"));
    assert_model(&model, &s);

    // probe validate: the scenario has a deliberate gap (the NLB's health checks on 9000 are not
    // in the web servers' group), so exit 1; the ALB's and the CLB's health checks on 8080 pass
    // the groups, the ACL and the routes.
    let out = run_probe(&["validate", "--aws", dump, "--output", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("validate prints JSON ({e}); stderr: {stderr}"));
    assert_eq!(out.status.code(), Some(1), "{report:#}\n{stderr}");
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(
        report["summary"]["findings"].as_u64(),
        Some(findings.len() as u64)
    );
    let found = |lb: &str, ip: &str, port: u64, role: &str| -> Vec<(String, String)> {
        findings
            .iter()
            .filter(|f| {
                f["load_balancer"] == lb
                    && f["address"] == ip
                    && f["port"] == port
                    && f["role"] == role
            })
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                (s("severity"), s("code"))
            })
            .collect()
    };
    let error = |code: &str| ("error".to_string(), code.to_string());
    let ok = ("ok".to_string(), "OK".to_string());
    for ip in INSTANCE_IPS {
        assert_eq!(
            found("tcp-nlb", ip, 9000, "health_check"),
            vec![error("SG_INGRESS_MISSING")],
            "{ip}: the NLB's health check on 9000: {report:#}"
        );
        for lb in ["web-alb", "classic"] {
            assert!(
                found(lb, ip, 8080, "health_check").contains(&ok),
                "{ip}: {lb}'s health check on 8080 passes: {report:#}"
            );
        }
        // web-green's health check port 8081 is in neither the group nor the ACL: validate
        // judges every group of the weighted forward, and this one is an error.
        let green = found("web-alb", ip, 8081, "health_check");
        assert!(
            !green.is_empty(),
            "{ip}: web-green's health check is judged: {report:#}"
        );
        for (severity, code) in green {
            assert_eq!(severity, "error", "{ip}: 8081 is judged {code}: {report:#}");
        }
    }
    // The internet-facing listeners' client legs: public subnets (a default route to the
    // internet gateway), the default ACL, and the ALB's group open on 80. Every load balancer
    // is internet-facing, so each has its client legs.
    let clients: Vec<&serde_json::Value> =
        findings.iter().filter(|f| f["role"] == "client").collect();
    for lb in ["web-alb", "tcp-nlb", "classic"] {
        assert!(
            clients.iter().any(|f| f["load_balancer"] == lb),
            "{lb} has a client leg: {report:#}"
        );
    }
    for f in clients {
        if f["load_balancer"] == "tcp-nlb" {
            // The NLB keeps the client's address, so its clients' connections end at the
            // targets, whose group admits nothing on 9000: the leg is blocked there.
            assert_eq!(
                f["code"], "SG_INGRESS_MISSING",
                "the NLB's client leg: {f:#}"
            );
            assert_eq!(f["blocking"]["kind"], "security_group", "{f:#}");
            assert!(
                f["summary"]
                    .as_str()
                    .is_some_and(|t| t.contains("clients 0.0.0.0/0")),
                "{f:#}"
            );
        } else {
            assert_eq!(f["severity"], "ok", "the client leg: {f:#}");
        }
    }

    drop(m);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The model of the dump: the VPC as a network, subnets with their network, both route tables
/// with their associations and gateways (and the dead NAT gateway's route as a blackhole), the
/// load balancers with scheme, forwards, attributes, and the instances as members.
fn assert_model(model: &Model, s: &Scenario) {
    let net = model
        .networks
        .iter()
        .find(|n| n.id == s.vpc)
        .unwrap_or_else(|| panic!("no network {} in {:?}", s.vpc, model.networks));
    assert_eq!(net.cidrs, vec!["10.20.0.0/16".parse().expect("cidr")]);
    for (id, zone) in [
        (&s.public[0], "eu-west-1a"),
        (&s.public[1], "eu-west-1b"),
        (&s.private[0], "eu-west-1a"),
        (&s.private[1], "eu-west-1b"),
    ] {
        let sub = model
            .subnets
            .iter()
            .find(|x| &x.id == id)
            .unwrap_or_else(|| panic!("no subnet {id}"));
        assert_eq!(sub.network.as_deref(), Some(s.vpc.as_str()), "{id}");
        assert_eq!(sub.zone.as_deref(), Some(zone), "{id}");
    }

    // Route tables: the main one, the public one through the internet gateway, the private one
    // through the NAT gateway with a blackhole to the deleted one.
    let table = |id: &str| {
        model
            .route_tables
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no route table {id} in {:#?}", model.route_tables))
    };
    assert!(
        model
            .route_tables
            .iter()
            .any(|t| t.main && t.network.as_deref() == Some(s.vpc.as_str())),
        "the VPC's main table"
    );
    let via = |t: &probe::model::RouteTable, dst: &str| {
        let dst: ipnet::IpNet = dst.parse().expect("cidr");
        t.routes
            .iter()
            .find(|r| r.destination == dst)
            .unwrap_or_else(|| panic!("{}: no route to {dst}: {:?}", t.id, t.routes))
            .clone()
    };
    let public = table(&s.public_rt);
    assert_eq!(public.network.as_deref(), Some(s.vpc.as_str()));
    assert_eq!(sorted(&public.subnets), sorted(&s.public));
    let r = via(public, "0.0.0.0/0");
    assert_eq!(r.via.kind, RouteTargetKind::InternetGateway);
    assert_eq!(r.via.id.as_deref(), Some(s.igw.as_str()));
    assert_eq!(r.state, RouteState::Active);
    assert_eq!(via(public, "10.20.0.0/16").via.kind, RouteTargetKind::Local);
    let private = table(&s.private_rt);
    assert_eq!(sorted(&private.subnets), sorted(&s.private));
    let r = via(private, "0.0.0.0/0");
    assert_eq!(r.via.kind, RouteTargetKind::NatGateway);
    assert_eq!(r.via.id.as_deref(), Some(s.nat.as_str()));
    assert_eq!(r.state, RouteState::Active);
    // moto keeps that route "active"; the deleted gateway in describe-nat-gateways says otherwise.
    let r = via(private, "192.168.0.0/16");
    assert_eq!(r.via.id.as_deref(), Some(s.dead_nat.as_str()));
    assert_eq!(r.state, RouteState::Blackhole);

    // The custom ACL on the private subnets, its ICMP entry and no default entries.
    let acl = model
        .network_acls
        .iter()
        .find(|a| a.id == s.acl)
        .unwrap_or_else(|| panic!("no ACL {}", s.acl));
    assert_eq!(sorted(&acl.subnets), sorted(&s.private));
    assert_eq!(acl.inbound.len(), 3);
    assert_eq!(acl.outbound.len(), 2);

    // Load balancers.
    let lb = |kind: LbKind, name: &str| {
        model
            .load_balancers
            .iter()
            .find(|l| l.kind == kind && l.name.contains(name))
            .unwrap_or_else(|| {
                panic!(
                    "no {kind:?} {name}: {:?}",
                    model
                        .load_balancers
                        .iter()
                        .map(|l| (&l.name, l.kind))
                        .collect::<Vec<_>>()
                )
            })
    };
    let alb = lb(LbKind::Alb, "web-alb");
    assert_eq!(alb.id.as_deref(), Some(s.alb.as_str()));
    assert_eq!(alb.scheme, Some(Scheme::InternetFacing));
    assert_eq!(sorted(&alb.subnets), sorted(&s.public));
    assert_eq!(alb.security_groups, vec![s.alb_sg.clone()]);
    let http = alb
        .listeners
        .iter()
        .find(|l| l.port == 80)
        .expect("the ALB's listener on 80");
    assert!(
        http.forwards_to("web-blue") && http.forwards_to("web-green"),
        "the weighted forward reaches both groups: {http:?}"
    );
    assert!(
        http.forwards
            .iter()
            .any(|f| f.backend_group == "web-green" && f.weight == Some(20)),
        "web-green's weight 20: {:?}",
        http.forwards
    );
    let nlb = lb(LbKind::Nlb, "tcp-nlb");
    assert_eq!(nlb.id.as_deref(), Some(s.nlb.as_str()));
    assert_eq!(nlb.scheme, Some(Scheme::InternetFacing));
    assert_eq!(nlb.cross_zone, Some(true), "set by its attribute");
    assert!(
        nlb.listeners
            .iter()
            .any(|l| l.port == 9000 && l.forwards_to("tcp-ip"))
    );
    let clb = lb(LbKind::Clb, "classic");
    assert_eq!(clb.scheme, Some(Scheme::InternetFacing));
    assert_eq!(clb.cross_zone, Some(true), "set by its attribute");
    assert_eq!(sorted(&clb.subnets), sorted(&s.public));

    // Backend groups: members are the instances, in their subnets and group.
    let group = |name: &str| {
        model
            .backend_groups
            .iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no backend group {name}"))
    };
    let instance_members = |name: &str| {
        let g = group(name);
        let mut got: Vec<(String, IpAddr, Option<String>, Vec<String>)> = g
            .members
            .iter()
            .map(|m| {
                (
                    m.name.clone().unwrap_or_default(),
                    m.address,
                    m.subnet.clone(),
                    m.security_groups.clone(),
                )
            })
            .collect();
        got.sort();
        got
    };
    let mut want: Vec<(String, IpAddr, Option<String>, Vec<String>)> = (0..2)
        .map(|i| {
            (
                s.instances[i].clone(),
                INSTANCE_IPS[i].parse().expect("ip"),
                Some(s.private[i].clone()),
                vec![s.web_sg.clone()],
            )
        })
        .collect();
    want.sort();
    assert_eq!(instance_members("web-blue"), want, "web-blue's members");
    assert_eq!(instance_members("classic"), want, "the CLB's members");
    let blue = group("web-blue");
    assert_eq!(blue.id.as_deref(), Some(s.blue.as_str()));
    assert_eq!(blue.cross_zone, Some(false), "set by its attribute");
    let green = group("web-green");
    let addresses: BTreeSet<IpAddr> = green.members.iter().map(|m| m.address).collect();
    let ips: BTreeSet<IpAddr> = INSTANCE_IPS
        .iter()
        .map(|i| i.parse().expect("ip"))
        .collect();
    assert_eq!(addresses, ips);
    let tcp = group("tcp-ip");
    assert_eq!(tcp.preserve_client_ip, Some(true), "set by its attribute");
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// What moto cannot make, in AWS's own shape: routes AWS prints as blackholes once their internet
/// gateway, NAT gateway or network interface is gone (tests/fixtures/aws/blackholes/, with no
/// gateway outputs, so the printed state is all there is).
#[test]
fn routes_aws_reports_as_blackholes_import_as_blackholes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aws/blackholes");
    let out = run_probe(&["import", "aws", dir.to_str().expect("utf-8")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "probe import: {stderr}");
    let model: Model = serde_norway::from_slice(&out.stdout).expect("the imported model");
    let routes: Vec<(String, String, RouteTargetKind, Option<String>, RouteState)> = model
        .route_tables
        .iter()
        .flat_map(|t| {
            t.routes.iter().map(|r| {
                (
                    t.id.clone(),
                    r.destination.to_string(),
                    r.via.kind,
                    r.via.id.clone(),
                    r.state,
                )
            })
        })
        .filter(|r| r.2 != RouteTargetKind::Local)
        .collect();
    let route = |table: &str, dst: &str, kind, id: &str| {
        (
            table.to_string(),
            dst.to_string(),
            kind,
            Some(id.to_string()),
            RouteState::Blackhole,
        )
    };
    assert_eq!(
        routes,
        vec![
            route(
                "rtb-0200000000000000b",
                "0.0.0.0/0",
                RouteTargetKind::InternetGateway,
                "igw-0d0d0d0d0d0d0d0d3"
            ),
            route(
                "rtb-0300000000000000c",
                "0.0.0.0/0",
                RouteTargetKind::NatGateway,
                "nat-0e0e0e0e0e0e0e0e4"
            ),
            route(
                "rtb-0300000000000000c",
                "172.16.0.0/12",
                RouteTargetKind::Instance,
                "eni-0f0f0f0f0f0f0f0f5"
            ),
        ]
    );
    let private = model
        .route_tables
        .iter()
        .find(|t| t.id == "rtb-0300000000000000c")
        .expect("the private table");
    assert_eq!(
        private.subnets,
        vec!["subnet-0b0b0b0b0b0b0b0b2".to_string()]
    );
}
