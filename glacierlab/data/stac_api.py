"""How to ask a STAC API: page size, sort order and cloud filter in the form the API declares it supports.

The APIs differ: Earth Search v1 declares the ``sort`` and ``query`` extensions in its landing page's
``conformsTo`` (recorded in ``tests/data/stac/real/search__es_v1_s2l2a_paging_bbox_2020-03.json``), Planetary
Computer accepts the ``query`` extension (``search__pc_query_extension.json``), newer APIs (CDSE) declare
the ``filter`` extension (CQL2). Each search is built from what the API itself declares; nothing is sent
that it did not declare (pystac-client would refuse, and the API would ignore or reject it).
"""

from __future__ import annotations

from typing import Any

from glacierlab.data.catalog import StacEndpoint

PAGE_LIMIT = 100  # items per page: Earth Search answers 10 by default (20 round trips for 200 items)
SORT_BY = [
    {"field": "properties.eo:cloud_cover", "direction": "asc"},
    {"field": "properties.datetime", "direction": "desc"},
]


def open_client(ep: StacEndpoint) -> Any:
    """``pystac_client.Client`` of an endpoint (its landing page and conformance classes read once)."""
    from pystac_client import Client

    return Client.open(ep.url)


def search_params(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """``Client.search`` keywords for the glacierlab search ``params``, in the forms ``client`` declares.

    Args:
        client: An opened ``pystac_client.Client``.
        params: ``bbox``, ``datetime``, ``collections``, ``max_items`` as ``Client.search`` takes them, and
            optionally ``max_cloud`` (percent): the ``eo:cloud_cover`` upper limit.

    Returns:
        The keywords: ``limit`` = :data:`PAGE_LIMIT` (at most ``max_items``); with ``max_cloud``,
        ``sortby`` cloud cover ascending, then date descending, where the API declares the sort extension
        (so the first pages hold the least cloudy scenes, not only the newest), and the cloud filter as
        ``query`` where the API declares the query extension, else as CQL2-JSON ``filter`` where it
        declares the filter extension, else not sent (:func:`glacierlab.data.stac_search.search_scenes`
        checks it locally anyway).
    """
    from pystac_client.conformance import ConformanceClasses

    out = {k: v for k, v in params.items() if k != "max_cloud"}
    out["limit"] = min(PAGE_LIMIT, int(params.get("max_items") or PAGE_LIMIT))
    cloud = params.get("max_cloud")
    if cloud is not None:  # optical searches only: DEM tiles have no cloud cover to sort or filter by
        if client.conforms_to(ConformanceClasses.SORT):
            out["sortby"] = SORT_BY
        if client.conforms_to(ConformanceClasses.QUERY):
            out["query"] = {"eo:cloud_cover": {"lte": cloud}}
        elif client.conforms_to(ConformanceClasses.FILTER):
            out["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, cloud]}
            out["filter_lang"] = "cql2-json"
    return out
