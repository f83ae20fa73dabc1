from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response, UNSET
from ... import errors

from ...models.readyz_response_4xx import ReadyzResponse4XX
from ...models.readyz_response_readyz import ReadyzResponseReadyz
from typing import cast



def _get_kwargs(
    
) -> dict[str, Any]:
    

    

    

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/readyz",
    }


    return _kwargs



def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ReadyzResponse4XX | ReadyzResponseReadyz | None:
    if response.status_code == 200:
        response_200 = ReadyzResponseReadyz.from_dict(response.json())



        return response_200

    if 400 <= response.status_code <= 499:
        response_4xx = ReadyzResponse4XX.from_dict(response.json())



        return response_4xx

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ReadyzResponse4XX | ReadyzResponseReadyz]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,

) -> Response[ReadyzResponse4XX | ReadyzResponseReadyz]:
    """ Readyz

     Readiness: the kernel probe ran and the scan pool is up. No authentication.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ReadyzResponse4XX | ReadyzResponseReadyz]
     """


    kwargs = _get_kwargs(
        
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)

def sync(
    *,
    client: AuthenticatedClient | Client,

) -> ReadyzResponse4XX | ReadyzResponseReadyz | None:
    """ Readyz

     Readiness: the kernel probe ran and the scan pool is up. No authentication.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ReadyzResponse4XX | ReadyzResponseReadyz
     """


    return sync_detailed(
        client=client,

    ).parsed

async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,

) -> Response[ReadyzResponse4XX | ReadyzResponseReadyz]:
    """ Readyz

     Readiness: the kernel probe ran and the scan pool is up. No authentication.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ReadyzResponse4XX | ReadyzResponseReadyz]
     """


    kwargs = _get_kwargs(
        
    )

    response = await client.get_async_httpx_client().request(
        **kwargs
    )

    return _build_response(client=client, response=response)

async def asyncio(
    *,
    client: AuthenticatedClient | Client,

) -> ReadyzResponse4XX | ReadyzResponseReadyz | None:
    """ Readyz

     Readiness: the kernel probe ran and the scan pool is up. No authentication.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ReadyzResponse4XX | ReadyzResponseReadyz
     """


    return (await asyncio_detailed(
        client=client,

    )).parsed
