from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.error_body import ErrorBody
from ...models.http_validation_error import HTTPValidationError
from ...models.mapping_info import MappingInfo
from typing import cast



def _get_kwargs(
    pid: int,

) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/processes/{pid}/maps".format(pid=quote(str(pid), safe=""),),
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ErrorBody | HTTPValidationError | list[MappingInfo] | None:
    if response.status_code == 200:
        response_200 = []
        _response_200 = response.json()
        for response_200_item_data in (_response_200):
            response_200_item = MappingInfo.from_dict(response_200_item_data)



            response_200.append(response_200_item)

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

    if response.status_code == 410:
        response_410 = ErrorBody.from_dict(response.json())



        return response_410

    if response.status_code == 422:
        response_422 = HTTPValidationError.from_dict(response.json())



        return response_422

    if response.status_code == 503:
        response_503 = ErrorBody.from_dict(response.json())



        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ErrorBody | HTTPValidationError | list[MappingInfo]]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    pid: int,
    *,
    client: AuthenticatedClient,

) -> Response[ErrorBody | HTTPValidationError | list[MappingInfo]]:
    """ Maps

    Args:
        pid (int): the target process

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | HTTPValidationError | list[MappingInfo]]
     """


    kwargs = _get_kwargs(
        pid=pid,

    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    pid: int,
    *,
    client: AuthenticatedClient,

) -> ErrorBody | HTTPValidationError | list[MappingInfo] | None:
    """ Maps

    Args:
        pid (int): the target process

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | HTTPValidationError | list[MappingInfo]
     """


    return sync_detailed(
        pid=pid,
client=client,

    ).parsed

async def asyncio_detailed(
    pid: int,
    *,
    client: AuthenticatedClient,

) -> Response[ErrorBody | HTTPValidationError | list[MappingInfo]]:
    """ Maps

    Args:
        pid (int): the target process

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorBody | HTTPValidationError | list[MappingInfo]]
     """


    kwargs = _get_kwargs(
        pid=pid,

    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    pid: int,
    *,
    client: AuthenticatedClient,

) -> ErrorBody | HTTPValidationError | list[MappingInfo] | None:
    """ Maps

    Args:
        pid (int): the target process

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorBody | HTTPValidationError | list[MappingInfo]
     """


    return (await asyncio_detailed(
        pid=pid,
client=client,

    )).parsed
