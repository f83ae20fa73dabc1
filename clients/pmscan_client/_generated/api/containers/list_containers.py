from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.container_info import ContainerInfo
from ...models.error_body import ErrorBody
from ...models.http_validation_error import HTTPValidationError
from ...models.list_containers_runtime_type_0 import ListContainersRuntimeType0
from ...types import UNSET, Unset
from typing import cast



def _get_kwargs(
    *,
    pod_uid: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    runtime: ListContainersRuntimeType0 | None | Unset = UNSET,

) -> dict[str, Any]:
    

    

    params: dict[str, Any] = {}

    json_pod_uid: None | str | Unset
    if isinstance(pod_uid, Unset):
        json_pod_uid = UNSET
    else:
        json_pod_uid = pod_uid
    params["pod_uid"] = json_pod_uid

    json_container_id: None | str | Unset
    if isinstance(container_id, Unset):
        json_container_id = UNSET
    else:
        json_container_id = container_id
    params["container_id"] = json_container_id

    json_runtime: None | str | Unset
    if isinstance(runtime, Unset):
        json_runtime = UNSET
    elif isinstance(runtime, ListContainersRuntimeType0):
        json_runtime = runtime.value
    else:
        json_runtime = runtime
    params["runtime"] = json_runtime


    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}


    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/containers",
        "params": params,
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in (_response_200):
            response_200_item = ContainerInfo.from_dict(response_200_item_data)



            response_200.append(response_200_item)

        return response_200

    if response.status_code == 401:
        response_401 = ErrorBody.from_dict(response.json())



        return response_401

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    pod_uid: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    runtime: ListContainersRuntimeType0 | None | Unset = UNSET,

) -> Response[ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]]:
    """ Containers

     The containers that have at least one process on this node, by pod UID then container
    id, each with its processes; the filters keep those of a pod, the one container an id (or a
    prefix of at least 12 digits: one naming several is a 422) names, those of a runtime. A
    filter that matches nothing gives an empty list.

    Args:
        pod_uid (None | str | Unset):
        container_id (None | str | Unset):
        runtime (ListContainersRuntimeType0 | None | Unset): as the cgroup path names it

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]]
     """


    kwargs = _get_kwargs(
        pod_uid=pod_uid,
container_id=container_id,
runtime=runtime,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient,
    pod_uid: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    runtime: ListContainersRuntimeType0 | None | Unset = UNSET,

) -> ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo] | None:
    """ Containers

     The containers that have at least one process on this node, by pod UID then container
    id, each with its processes; the filters keep those of a pod, the one container an id (or a
    prefix of at least 12 digits: one naming several is a 422) names, those of a runtime. A
    filter that matches nothing gives an empty list.

    Args:
        pod_uid (None | str | Unset):
        container_id (None | str | Unset):
        runtime (ListContainersRuntimeType0 | None | Unset): as the cgroup path names it

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]
     """


    return sync_detailed(
        client=client,
pod_uid=pod_uid,
container_id=container_id,
runtime=runtime,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    pod_uid: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    runtime: ListContainersRuntimeType0 | None | Unset = UNSET,

) -> Response[ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]]:
    """ Containers

     The containers that have at least one process on this node, by pod UID then container
    id, each with its processes; the filters keep those of a pod, the one container an id (or a
    prefix of at least 12 digits: one naming several is a 422) names, those of a runtime. A
    filter that matches nothing gives an empty list.

    Args:
        pod_uid (None | str | Unset):
        container_id (None | str | Unset):
        runtime (ListContainersRuntimeType0 | None | Unset): as the cgroup path names it

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]]
     """


    kwargs = _get_kwargs(
        pod_uid=pod_uid,
container_id=container_id,
runtime=runtime,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient,
    pod_uid: None | str | Unset = UNSET,
    container_id: None | str | Unset = UNSET,
    runtime: ListContainersRuntimeType0 | None | Unset = UNSET,

) -> ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo] | None:
    """ Containers

     The containers that have at least one process on this node, by pod UID then container
    id, each with its processes; the filters keep those of a pod, the one container an id (or a
    prefix of at least 12 digits: one naming several is a 422) names, those of a runtime. A
    filter that matches nothing gives an empty list.

    Args:
        pod_uid (None | str | Unset):
        container_id (None | str | Unset):
        runtime (ListContainersRuntimeType0 | None | Unset): as the cgroup path names it

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | ErrorBody | HTTPValidationError | list[ContainerInfo]
     """


    return (await asyncio_detailed(
        client=client,
pod_uid=pod_uid,
container_id=container_id,
runtime=runtime,

    )).parsed
