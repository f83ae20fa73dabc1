from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.cgroup_summary_response import CgroupSummaryResponse
from ...models.error_body import ErrorBody
from ...models.http_validation_error import HTTPValidationError
from ...models.summary_request import SummaryRequest
from ...models.summary_response import SummaryResponse
from ...models.workload_summary_response import WorkloadSummaryResponse
from typing import cast



def _get_kwargs(
    *,
    body: SummaryRequest,

) -> dict[str, Any]:
    headers: dict[str, Any] = {}


    

    

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/summary",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError | None:
    if response.status_code == 200:
        def _parse_response_200(data: object) -> CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = SummaryResponse.from_dict(data)



                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_1 = CgroupSummaryResponse.from_dict(data)



                return response_200_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_200_type_2 = WorkloadSummaryResponse.from_dict(data)



            return response_200_type_2

        response_200 = _parse_response_200(response.json())

        return response_200

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())



        return response_401

    if response.status_code == 403:
        response_403 = ErrorBody.from_dict(response.json())



        return response_403

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())



        return response_404

    if response.status_code == 409:
        response_409 = ErrorBody.from_dict(response.json())



        return response_409

    if response.status_code == 410:
        response_410 = ErrorBody.from_dict(response.json())



        return response_410

    if response.status_code == 413:
        response_413 = ErrorBody.from_dict(response.json())



        return response_413

    if response.status_code == 415:
        response_415 = ErrorBody.from_dict(response.json())



        return response_415

    if response.status_code == 422:
        def _parse_response_422(data: object) -> ErrorBody | HTTPValidationError:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_422_type_0 = HTTPValidationError.from_dict(data)



                return response_422_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_422_type_1 = ErrorBody.from_dict(data)



            return response_422_type_1

        response_422 = _parse_response_422(response.json())

        return response_422

    if response.status_code == 501:
        response_501 = ErrorBody.from_dict(response.json())



        return response_501

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if response.status_code == 504:
        response_504 = ErrorBody.from_dict(response.json())



        return response_504

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: SummaryRequest,

) -> Response[CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError]:
    """ Count the pages of a process, or of each process of a cgroup, a container or a pod, per category
    (and per mapping)

     With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages. With ``container_id`` or ``pod_uid``:
    a ``WorkloadSummaryResponse``, the same for the processes the container (or every container
    of the pod) has at that moment, and the containers counted.

    Args:
        body (SummaryRequest): ``/scan``'s body, for one process (``pid``), or every process of a
            cgroup (``cgroup``), of
            a container (``container_id``) or of a pod's containers (``pod_uid``).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    body: SummaryRequest,

) -> CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError | None:
    """ Count the pages of a process, or of each process of a cgroup, a container or a pod, per category
    (and per mapping)

     With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages. With ``container_id`` or ``pod_uid``:
    a ``WorkloadSummaryResponse``, the same for the processes the container (or every container
    of the pod) has at that moment, and the containers counted.

    Args:
        body (SummaryRequest): ``/scan``'s body, for one process (``pid``), or every process of a
            cgroup (``cgroup``), of
            a container (``container_id``) or of a pod's containers (``pod_uid``).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError
     """


    return sync_detailed(
        client=client,
body=body,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: SummaryRequest,

) -> Response[CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError]:
    """ Count the pages of a process, or of each process of a cgroup, a container or a pod, per category
    (and per mapping)

     With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages. With ``container_id`` or ``pod_uid``:
    a ``WorkloadSummaryResponse``, the same for the processes the container (or every container
    of the pod) has at that moment, and the containers counted.

    Args:
        body (SummaryRequest): ``/scan``'s body, for one process (``pid``), or every process of a
            cgroup (``cgroup``), of
            a container (``container_id``) or of a pod's containers (``pod_uid``).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError]
     """


    kwargs = _get_kwargs(
        body=body,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    body: SummaryRequest,

) -> CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError | None:
    """ Count the pages of a process, or of each process of a cgroup, a container or a pod, per category
    (and per mapping)

     With ``pid``: a ``SummaryResponse``. With ``cgroup``: a ``CgroupSummaryResponse``, one
    summary per member process (members that exit meanwhile or may not be scanned are
    listed under ``skipped``) and the sum of their pages. With ``container_id`` or ``pod_uid``:
    a ``WorkloadSummaryResponse``, the same for the processes the container (or every container
    of the pod) has at that moment, and the containers counted.

    Args:
        body (SummaryRequest): ``/scan``'s body, for one process (``pid``), or every process of a
            cgroup (``cgroup``), of
            a container (``container_id``) or of a pod's containers (``pod_uid``).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        CgroupSummaryResponse | SummaryResponse | WorkloadSummaryResponse | ErrorBody | ErrorBody | HTTPValidationError
     """


    return (await asyncio_detailed(
        client=client,
body=body,

    )).parsed
