"""Administrators' pages for subnets: the list and each subnet's address map."""

from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from containers.models import Subnet
from containers.permissions import staff_required
from containers.views.display import address_map, free_addresses

# One page of the address map covers a /24, so a /16 subnet has 256 pages.
ADDRESSES_PER_PAGE = 256


@staff_required
def subnet_list(request: HttpRequest) -> HttpResponse:
    subnets = list(Subnet.objects.annotate(held_count=Count("addresses")).prefetch_related("hosts").order_by("name"))
    free = free_addresses(subnets)
    rows = [{"subnet": subnet, "free_count": len(free[subnet.pk])} for subnet in subnets]
    return render(request, "containers/manage/subnet_list.html", {"rows": rows})


@staff_required
def subnet_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subnet = get_object_or_404(Subnet.objects.prefetch_related("hosts"), pk=pk)

    # The paginator only counts the indexes; address_map builds the rows of one page.
    page = Paginator(range(subnet.network.num_addresses), ADDRESSES_PER_PAGE).get_page(request.GET.get("page"))
    addresses = address_map(subnet, page.object_list.start, page.object_list.stop - 1)
    return render(
        request,
        "containers/manage/subnet_detail.html",
        {"subnet": subnet, "page": page, "addresses": addresses},
    )
