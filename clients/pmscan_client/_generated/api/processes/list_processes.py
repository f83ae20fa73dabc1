from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.http_validation_error import HTTPValidationError
from ...models.process_info import ProcessInfo
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    comm: None | str | Unset = UNSET,
    uid: int | None | Unset = UNSET,
    cgroup: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    pod_uid: None | str | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    json_comm: None | str | Unset
    if isinstance(comm, Unset):
        json_comm = UNSET
    else:
        json_comm = comm
    params["comm"] = json_comm

    json_uid: int | None | Unset
    if isinstance(uid, Unset):
        json_uid = UNSET
    else:
        json_uid = uid
    params["uid"] = json_uid

    json_cgroup: None | str | Unset
    if isinstance(cgroup, Unset):
        json_cgroup = UNSET
    else:
        json_cgroup = cgroup
    params["cgroup"] = json_cgroup

    json_container_id: None | str | Unset
    if isinstance(container_id, Unset):
        json_container_id = UNSET
    else:
        json_container_id = container_id
    params["container_id"] = json_container_id

    json_pod_uid: None | str | Unset
    if isinstance(pod_uid, Unset):
        json_pod_uid = UNSET
    else:
        json_pod_uid = pod_uid
    params["pod_uid"] = json_pod_uid


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/processes",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in (_response_200):
            response_200_item = ProcessInfo.from_dict(response_200_item_data)



            response_200.append(response_200_item)

        return response_200

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())



        return response_401

    if response.status_code == 404:
        response_404 = ErrorBody.from_dict(response.json())



        return response_404

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

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    comm: None | str | Unset = UNSET,
    uid: int | None | Unset = UNSET,
    cgroup: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    pod_uid: None | str | Unset = UNSET,

) -> Response[ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]]:
    """ Processes

     User processes (no kernel threads), by pid, each with its container; ``cgroup`` keeps
    those in it or below it, ``container_id`` those of that container (a prefix naming several
    is a 422), ``pod_uid`` those of that pod's containers.

    Args:
        comm (None | str | Unset): exact command name
        uid (int | None | Unset):
        cgroup (None | str | Unset):
        container_id (None | str | Unset):
        pod_uid (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]]
     """


    kwargs = _get_kwargs(
        comm=comm,
uid=uid,
cgroup=cgroup,
container_id=container_id,
pod_uid=pod_uid,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    comm: None | str | Unset = UNSET,
    uid: int | None | Unset = UNSET,
    cgroup: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    pod_uid: None | str | Unset = UNSET,

) -> ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo] | None:
    """ Processes

     User processes (no kernel threads), by pid, each with its container; ``cgroup`` keeps
    those in it or below it, ``container_id`` those of that container (a prefix naming several
    is a 422), ``pod_uid`` those of that pod's containers.

    Args:
        comm (None | str | Unset): exact command name
        uid (int | None | Unset):
        cgroup (None | str | Unset):
        container_id (None | str | Unset):
        pod_uid (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]
     """


    return sync_detailed(
        client=client,
comm=comm,
uid=uid,
cgroup=cgroup,
container_id=container_id,
pod_uid=pod_uid,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    comm: None | str | Unset = UNSET,
    uid: int | None | Unset = UNSET,
    cgroup: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    pod_uid: None | str | Unset = UNSET,

) -> Response[ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]]:
    """ Processes

     User processes (no kernel threads), by pid, each with its container; ``cgroup`` keeps
    those in it or below it, ``container_id`` those of that container (a prefix naming several
    is a 422), ``pod_uid`` those of that pod's containers.

    Args:
        comm (None | str | Unset): exact command name
        uid (int | None | Unset):
        cgroup (None | str | Unset):
        container_id (None | str | Unset):
        pod_uid (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]]
     """


    kwargs = _get_kwargs(
        comm=comm,
uid=uid,
cgroup=cgroup,
container_id=container_id,
pod_uid=pod_uid,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    comm: None | str | Unset = UNSET,
    uid: int | None | Unset = UNSET,
    cgroup: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    pod_uid: None | str | Unset = UNSET,

) -> ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo] | None:
    """ Processes

     User processes (no kernel threads), by pid, each with its container; ``cgroup`` keeps
    those in it or below it, ``container_id`` those of that container (a prefix naming several
    is a 422), ``pod_uid`` those of that pod's containers.

    Args:
        comm (None | str | Unset): exact command name
        uid (int | None | Unset):
        cgroup (None | str | Unset):
        container_id (None | str | Unset):
        pod_uid (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ErrorBody | HTTPValidationError | list[ProcessInfo]
     """


    return (await asyncio_detailed(
        client=client,
comm=comm,
uid=uid,
cgroup=cgroup,
container_id=container_id,
pod_uid=pod_uid,

    )).parsed
