"""ACM for imported certificates through real boto3 and aws-cli, and HTTPS listeners using
them: a self-signed certificate made with openssl in the test, its facts, tags, listing,
re-import, listener certificates, and a certificate in use that cannot be deleted."""

import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import free_port

# HTTPS listeners are served for real: a port a test run can bind without privilege.
HTTPS_PORT = free_port()


def make_certificate(directory, name, common_name, key=("-newkey", "rsa:2048")):
    """A self-signed certificate and its unencrypted key, PEM, made with openssl."""
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", *key, "-nodes", "-keyout", str(key_path), "-out", str(cert_path),
         "-days", "30", "-subj", f"/CN={common_name}", "-addext", f"subjectAltName=DNS:{common_name},DNS:www.{common_name}"],
        check=True, capture_output=True)
    return cert_path.read_bytes(), key_path.read_bytes()


@pytest.fixture
def acm(berth):
    return berth.client("acm")


@pytest.fixture
def elbv2(berth):
    return berth.client("elbv2")


def error_code(call, **kwargs):
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def test_import_describe_list_get_delete(acm, tmp_path):
    certificate, key = make_certificate(tmp_path, "site", "site.example.com")
    arn = acm.import_certificate(Certificate=certificate, PrivateKey=key,
                                 Tags=[{"Key": "env", "Value": "dev"}])["CertificateArn"]
    assert arn.startswith("arn:aws:acm:us-east-1:000000000000:certificate/")
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["DomainName"] == "site.example.com"
    assert detail["SubjectAlternativeNames"] == ["site.example.com", "www.site.example.com"]
    assert detail["Type"] == "IMPORTED"
    assert detail["Status"] == "ISSUED"
    assert detail["KeyAlgorithm"] == "RSA_2048"
    assert detail["SignatureAlgorithm"] == "SHA256WITHRSA"
    assert detail["InUseBy"] == []
    assert (detail["NotAfter"] - detail["NotBefore"]).days == 30
    serial = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=certificate, capture_output=True,
                            check=True).stdout.decode().strip().split("=")[1]
    assert detail["Serial"].replace(":", "") == serial.lower()

    got = acm.get_certificate(CertificateArn=arn)
    assert got["Certificate"].strip() == certificate.decode().strip()
    assert "PRIVATE KEY" not in str(got)

    listed = acm.list_certificates()["CertificateSummaryList"]
    assert [(c["CertificateArn"], c["DomainName"], c["InUse"]) for c in listed] == [(arn, "site.example.com", False)]
    assert acm.list_certificates(CertificateStatuses=["EXPIRED"])["CertificateSummaryList"] == []

    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "team", "Value": "web"}])
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "env", "Value": "other"}])
    assert len(acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]) == 2
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "env"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]

    # Re-import under the same ARN replaces the certificate and keeps the tags.
    renewed, renewed_key = make_certificate(tmp_path, "renewed", "renewed.example.com")
    assert acm.import_certificate(CertificateArn=arn, Certificate=renewed, PrivateKey=renewed_key)[
        "CertificateArn"] == arn
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainName"] == "renewed.example.com"
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [{"Key": "team", "Value": "web"}]

    acm.delete_certificate(CertificateArn=arn)
    assert error_code(acm.describe_certificate, CertificateArn=arn) == "ResourceNotFoundException"
    assert error_code(acm.delete_certificate, CertificateArn=arn) == "ResourceNotFoundException"


def test_bad_imports(acm, tmp_path):
    certificate, key = make_certificate(tmp_path, "one", "one.example.com")
    _, other_key = make_certificate(tmp_path, "two", "two.example.com")
    assert error_code(acm.import_certificate, Certificate=certificate, PrivateKey=other_key) == \
        "ValidationException"
    assert error_code(acm.import_certificate, Certificate=b"not a certificate", PrivateKey=key) == \
        "ValidationException"
    assert error_code(acm.import_certificate, Certificate=certificate + certificate, PrivateKey=key) == \
        "ValidationException"
    missing = "arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-0000-0000-000000000000"
    assert error_code(acm.import_certificate, CertificateArn=missing, Certificate=certificate,
                      PrivateKey=key) == "ResourceNotFoundException"
    assert acm.list_certificates()["CertificateSummaryList"] == []


def test_ec_certificates_are_listed_when_asked(acm, tmp_path):
    certificate, key = make_certificate(tmp_path, "ec", "ec.example.com", key=("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"))
    arn = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["KeyAlgorithm"] == "EC_prime256v1"
    # ListCertificates shows RSA_1024 and RSA_2048 unless other key types are asked for.
    assert acm.list_certificates()["CertificateSummaryList"] == []
    listed = acm.list_certificates(Includes={"keyTypes": ["EC_prime256v1"]})["CertificateSummaryList"]
    assert [c["CertificateArn"] for c in listed] == [arn]


def test_listing_sorts_pages_and_filters(acm, tmp_path):
    arns = []
    for name in ["a", "b", "c"]:
        certificate, key = make_certificate(tmp_path, name, f"{name}.example.com")
        arns.append(acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"])
    newest_first = acm.list_certificates(SortBy="CREATED_AT", SortOrder="DESCENDING")["CertificateSummaryList"]
    assert len(newest_first) == 3
    created = [c["CreatedAt"] for c in newest_first]
    assert created == sorted(created, reverse=True)
    pages = acm.get_paginator("list_certificates").paginate(PaginationConfig={"PageSize": 2})
    assert sorted(c["CertificateArn"] for page in pages for c in page["CertificateSummaryList"]) == sorted(arns)
    # openssl's self-signed certificates carry no extended key usage.
    assert acm.list_certificates(Includes={"extendedKeyUsage": ["TLS_WEB_SERVER_AUTHENTICATION"]})[
        "CertificateSummaryList"] == []
    assert acm.list_certificates(Includes={"managedBy": "CLOUDFRONT"})["CertificateSummaryList"] == []
    assert error_code(acm.list_certificates, NextToken="garbage") == "InvalidArgsException"


def test_https_listener_uses_a_certificate(berth, acm, elbv2, tmp_path):
    certificate, key = make_certificate(tmp_path, "lb", "lb.example.com")
    arn = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    sni_certificate, sni_key = make_certificate(tmp_path, "sni", "sni.example.com")
    sni_arn = acm.import_certificate(Certificate=sni_certificate, PrivateKey=sni_key)["CertificateArn"]
    ec2 = berth.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    lb = elbv2.create_load_balancer(Name="secure")["LoadBalancers"][0]
    tg = elbv2.create_target_group(Name="secure", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    forward = [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]

    assert error_code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=HTTPS_PORT,
                      DefaultActions=forward) == "ValidationError"
    missing = arn[:-4] + "ffff"
    assert error_code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=HTTPS_PORT,
                      Certificates=[{"CertificateArn": missing}], DefaultActions=forward) == "CertificateNotFound"
    assert error_code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=HTTPS_PORT,
                      Certificates=[{"CertificateArn": arn}], SslPolicy="NoSuchPolicy",
                      DefaultActions=forward) == "SSLPolicyNotFound"
    assert error_code(elbv2.create_listener, LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=HTTPS_PORT,
                      Certificates=[{"CertificateArn": arn}], DefaultActions=forward,
                      MutualAuthentication={"Mode": "passthrough"}) == "InvalidConfigurationRequest"
    listener = elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=HTTPS_PORT,
                                     Certificates=[{"CertificateArn": arn}], DefaultActions=forward)["Listeners"][0]
    assert listener["SslPolicy"] == "ELBSecurityPolicy-2016-08"
    assert listener["Certificates"] == [{"CertificateArn": arn}]

    elbv2.add_listener_certificates(ListenerArn=listener["ListenerArn"], Certificates=[{"CertificateArn": sni_arn}])
    described = elbv2.describe_listener_certificates(ListenerArn=listener["ListenerArn"])["Certificates"]
    assert sorted((c["CertificateArn"], c["IsDefault"]) for c in described) == sorted(
        [(arn, True), (sni_arn, False)])

    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == [lb["LoadBalancerArn"]]
    assert error_code(acm.delete_certificate, CertificateArn=arn) == "ResourceInUseException"
    assert error_code(acm.delete_certificate, CertificateArn=sni_arn) == "ResourceInUseException"
    failed = berth.aws("acm", "delete-certificate", "--certificate-arn", arn, check=False)
    assert failed.returncode != 0 and "ResourceInUseException" in failed.stderr

    elbv2.remove_listener_certificates(ListenerArn=listener["ListenerArn"],
                                       Certificates=[{"CertificateArn": sni_arn}])
    acm.delete_certificate(CertificateArn=sni_arn)
    elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == []
    acm.delete_certificate(CertificateArn=arn)
