"""glacierlab.geo: the UTM zone of a point, computed, agrees with pyproj's database query everywhere."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from glacierlab.geo import utm_epsg
from glacierlab.outlines.polygons import metric_crs


def _queried(lon: float, lat: float) -> int:
    """What utm_epsg returned before it was computed: pyproj's UTM query around the point."""
    eps = 1e-9
    aoi = AreaOfInterest(lon - eps, lat - eps, lon + eps, lat + eps)
    hits = [int(h.code) for h in query_utm_crs_info(datum_name="WGS 84", area_of_interest=aoi)]
    want = 32600 if lat >= 0 else 32700
    same = [c for c in hits if c // 100 == want // 100]
    return min(same) if same else want + min(int((lon + 180.0) // 6.0) + 1, 60)


def test_utm_zone_arithmetic_matches_the_pyproj_query() -> None:
    """Strip edges (a point on one belongs to the lower zone), the antimeridian, the equator, UTM's northern
    and southern limits and the poles beyond them, and random points (the query costs 0.15 s each)."""
    rng = np.random.default_rng(0)
    cases = [
        (-180.0, 10.0), (180.0, 10.0), (-174.0, 10.0), (6.0, 46.0), (6.0 - 1e-6, 46.0), (6.0 + 1e-6, 46.0),
        (-72.0, -46.6), (12.0, 0.0), (12.5, -1e-6), (12.5, 1e-6), (15.6, 84.0), (15.6, 84.5), (15.6, 90.0),
        (-70.0, -80.0), (-70.0, -80.5), (-70.0, -90.0), (177.0, -40.0),
        *zip(rng.uniform(-180, 180, 4), rng.uniform(-80, 84, 4), strict=True),
    ]
    wrong = [(lon, lat, utm_epsg(lon, lat), _queried(lon, lat)) for lon, lat in cases]
    assert not [w for w in wrong if w[2] != w[3]]
    assert utm_epsg(86.9, 27.98) == 32645 and utm_epsg(-73.5, -46.6) == 32718


def test_metric_crs_is_the_utm_zone_of_the_centre_as_geopandas_estimates_it() -> None:
    for lon, lat in [(13.34, 47.02), (86.9, 27.98), (-73.5, -46.6), (15.6, 78.05)]:
        gdf = gpd.GeoDataFrame(geometry=[shapely.box(lon - 0.05, lat - 0.05, lon + 0.05, lat + 0.05)], crs=4326)
        assert metric_crs(gdf) == gdf.estimate_utm_crs()
        projected = gdf.to_crs(gdf.estimate_utm_crs())
        assert metric_crs(projected) == gdf.estimate_utm_crs()
