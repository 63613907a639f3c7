"""Style ``csv_download``, its protocol against the simulator: HTTP basic auth, and the file kept in the
raw zone byte for byte as served, GBK or GB18030, 合计 row included. (What every style shares --
partitions against the truth, for a GBK and a GB18030 province, every province, wrong credentials --
is in test_styles.py; source faults in test_source_faults.py.)"""

import pytest
import requests

from ibdc import pipeline
from ibdc.landing import raw_zone
from ibdc.landing.manifest import Partition
from tests.manifests import stored_pages

pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset="industrial_output", provinces=["220000", "410000"], periods=["2024-05"]),
]


@pytest.mark.parametrize(("province", "encoding"), [("220000", "gbk"), ("410000", "gb18030")])
def test_the_raw_zone_holds_the_file_s_bytes_as_served(province, encoding, services, truth):
    dataset, period = "industrial_output", "2024-05"
    pipeline.extract_partition(dataset, province, period)
    manifest = raw_zone.read_manifest(Partition(dataset=dataset, province_code=province, period=period))
    (stored,) = stored_pages(manifest)
    request = manifest.objects[0].request
    served = requests.get(
        request["url"], params=request["params"], auth=(province, services.simulator_client_secret), timeout=30
    )
    assert served.headers["Content-Type"] == f"text/csv; charset={encoding}"
    assert served.content == stored
    with pytest.raises(UnicodeDecodeError):
        stored.decode("utf-8")  # GBK / GB18030, not UTF-8
    text = stored.decode(encoding)
    assert text.startswith("地区代码,统计月份,产品代码,产品名称,本月(万吨),1-本月累计(万吨)\n")  # crude steel first
    assert text.splitlines()[-2:] == ["", f"总计(共{len(truth(province, period)['expected'])}条)"]


def test_the_portal_wants_the_province_s_basic_auth(services):
    url, secret = f"{services.sources_url}/p/220000/download/industrial_output.csv", services.simulator_client_secret
    for auth in (None, ("220000", "wrong"), ("230000", secret)):
        resp = requests.get(url, params={"period": "2024-06"}, auth=auth, timeout=10)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic"), auth
    assert requests.get(url, params={"period": "2024-06"}, auth=("220000", secret), timeout=10).status_code == 200
