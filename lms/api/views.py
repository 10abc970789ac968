"""REST API views: parse, authorize through exams/permissions.py, call one service or selector.

Rows outside the caller's courses answer 404 (forbidden looks like missing); a visible
row the caller may not change answers 403.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.throttling import SimpleRateThrottle

from exams.models import Course
from lms import permissions
from lms.api import selectors, serializers, services
from lms.api.authentication import ApiKeyAuthentication
from lms.api.schema import ProctorAutoSchema
from lms.models import ApiKey


def _api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


class ApiAccess(BasePermission):
    """Keys need the method's scope (read, or write for changes); users must be staff."""

    message = "Your credentials do not allow this; see docs/api.md for scopes and roles."

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = permissions.API_READ if request.method in SAFE_METHODS else permissions.API_WRITE
        return permissions.api_may_use(request.user, _api_key(request), scope=scope)


class ApiThrottle(SimpleRateThrottle):
    """Per key, per user, or per address for anonymous calls (rate: API_THROTTLE_RATE)."""

    scope = "api"

    def get_cache_key(self, request: Request, view: Any) -> str:
        key = _api_key(request)
        if key is not None:
            ident = f"key-{key.prefix}"
        elif request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"addr-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` (1 to 500) and ``offset`` (0 to 10⁹); anything else is a 400, not ignored."""

    max_limit = 500
    max_offset = 10**9

    def _parse(self, request: Request, name: str, minimum: int, maximum: int) -> None:
        raw = request.query_params.get(name)
        if raw is None:
            return
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise ValidationError(
                {name: f"Must be a whole number from {minimum} to {maximum}; got {raw!r}."}
            )

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        self._parse(request, self.limit_query_param, 1, self.max_limit)
        self._parse(request, self.offset_query_param, 0, self.max_offset)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit)
            else:
                parameter["schema"].update(minimum=0, maximum=self.max_offset)
        return parameters


class ApiViewSet(viewsets.GenericViewSet):
    # Session auth enforces CSRF on unsafe methods; key auth needs no CSRF (no cookies).
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [ApiAccess]
    throttle_classes = [ApiThrottle]
    filter_serializer_class: type[BaseSerializer] | None = None
    schema = ProctorAutoSchema()
    parser_classes = [JSONParser]
    pagination_class = StrictLimitOffsetPagination
    # Accept any path segment so that a malformed id reaches the view and gets the API's
    # JSON 404, not Django's HTML one.
    lookup_value_regex = "[^/]+"
    # Decrypted details (incidents' payload, review notes) leave a trace: serializers note
    # each row they decrypted in context["revealed"], and one audit entry per session is
    # written when the response goes out, saying what was shown.
    reveal_what = ""

    @property
    def caller(self) -> dict[str, Any]:
        return {"user": self.request.user, "api_key": _api_key(self.request)}

    @property
    def actor(self) -> Any:
        return self.request.user if self.request.user.is_authenticated else None

    def filters(self) -> dict[str, Any]:
        if self.filter_serializer_class is None or self.action != "list":
            return {}
        # A plain dict, not the QueryDict: with HTML-form rules an empty value would
        # silently mean "no filter" instead of being refused.
        params = self.filter_serializer_class(data=self.request.query_params.dict())
        params.is_valid(raise_exception=True)
        return dict(params.validated_data)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        self._revealed: list[Any] = context.setdefault("revealed", [])
        return context

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Any:
        revealed = getattr(self, "_revealed", None)
        if revealed and 200 <= response.status_code < 300:
            services.api_decrypt_record(
                records=revealed, what=self.reveal_what,
                actor=request.user if request.user.is_authenticated else None,
                api_key=_api_key(request),
            )
        return super().finalize_response(request, response, *args, **kwargs)

    def require_manage(self, course: Course) -> None:
        if not permissions.api_can_manage_course(
            self.request.user, _api_key(self.request), course
        ):
            raise PermissionDenied("You may read this course but not change it.")


@extend_schema_view(
    list=extend_schema(parameters=[serializers.CourseFilterSerializer]),
    create=extend_schema(
        request=serializers.CourseCreateSerializer,
        responses={201: serializers.CourseSerializer},
    ),
    partial_update=extend_schema(
        request=serializers.CourseUpdateSerializer, responses=serializers.CourseSerializer
    ),
)
class CourseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Courses of the caller's institution (keys) or the courses they staff (users)."""

    serializer_class = serializers.CourseSerializer
    filter_serializer_class = serializers.CourseFilterSerializer
    http_method_names = ["get", "post", "patch", "put", "head", "options"]

    def get_queryset(self) -> QuerySet:
        return selectors.course_list(**self.caller, filters=self.filters())

    def create(self, request: Request) -> Response:
        data = serializers.CourseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        institutions = permissions.api_institutions_for_new_course(
            request.user, _api_key(request)
        )
        slug = data.validated_data.get("institution")
        if slug:
            institutions = institutions.filter(slug=slug)
        if not institutions.exists():
            raise PermissionDenied("Only write keys and institution admins create courses.")
        if institutions.count() > 1:
            raise ValidationError({"institution": "Name the institution (its slug)."})
        course = services.course_create(
            institution=institutions.get(), code=data.validated_data["code"],
            title=data.validated_data["title"], actor=self.actor, api_key=_api_key(request),
        )
        return Response(
            serializers.CourseSerializer(course).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        course = self.get_object()
        self.require_manage(course)
        data = serializers.CourseUpdateSerializer(course, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        course = services.course_update(
            course=course, fields=data.validated_data, actor=self.actor,
            api_key=_api_key(request),
        )
        return Response(serializers.CourseSerializer(course).data)

    @extend_schema(
        request=None, responses=serializers.EnrollmentSerializer(many=True), methods=["GET"],
        parameters=[],
    )
    @extend_schema(
        request=serializers.EnrollmentSyncSerializer,
        responses=serializers.EnrollmentSyncResultSerializer,
        methods=["PUT"],
        description="Make the course's enrolments match this list exactly (create, update, "
        "remove). Idempotent: sending the same list again changes nothing.",
    )
    @action(detail=True, methods=["get", "put"], url_path="enrollments")
    def enrollments(
        self, request: Request, pk: str | None = None, format: str | None = None
    ) -> Response:
        # ``format``: the router's suffix route (…/enrollments.json) passes it.
        course = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.enrollment_list(course=course))
            data = serializers.EnrollmentSerializer(page, many=True).data
            return self.get_paginated_response(data)
        self.require_manage(course)
        body = serializers.EnrollmentSyncSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = services.enrollment_sync(
            course=course, rows=body.validated_data["enrollments"], actor=self.actor,
            api_key=_api_key(request),
        )
        return Response(serializers.EnrollmentSyncResultSerializer(result).data)


@extend_schema_view(
    list=extend_schema(parameters=[serializers.ExamFilterSerializer]),
    create=extend_schema(responses={201: serializers.ExamSerializer}),
)
class ExamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = serializers.ExamSerializer
    filter_serializer_class = serializers.ExamFilterSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet:
        return selectors.exam_list(**self.caller, filters=self.filters())

    def create(self, request: Request) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        course = fields.pop("course")
        self.require_manage(course)
        exam = services.exam_create(
            course=course, fields=fields, actor=self.actor, api_key=_api_key(request)
        )
        return Response(self.get_serializer(exam).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        exam = self.get_object()
        self.require_manage(exam.course)
        data = self.get_serializer(exam, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        exam = services.exam_update(
            exam=exam, fields=data.validated_data, actor=self.actor, api_key=_api_key(request)
        )
        return Response(self.get_serializer(exam).data)


@extend_schema_view(list=extend_schema(parameters=[serializers.SessionFilterSerializer]))
class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    serializer_class = serializers.SessionSerializer
    filter_serializer_class = serializers.SessionFilterSerializer

    def get_queryset(self) -> QuerySet:
        return selectors.session_list(**self.caller, filters=self.filters())


@extend_schema_view(list=extend_schema(parameters=[serializers.IncidentFilterSerializer]))
class IncidentViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet
):
    """Incidents; ``payload`` is decrypted only for permitted callers (docs/api.md)."""

    serializer_class = serializers.IncidentSerializer
    filter_serializer_class = serializers.IncidentFilterSerializer
    reveal_what = "incident payloads (API)"

    def get_queryset(self) -> QuerySet:
        return selectors.incident_list(**self.caller, filters=self.filters())


@extend_schema_view(
    list=extend_schema(parameters=[serializers.ReviewDecisionFilterSerializer])
)
class ReviewDecisionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet
):
    """Reviewers' decisions; ``close_clear``/``close_violation`` are review outcomes.
    ``note`` is decrypted only for permitted callers, like incidents' payload."""

    serializer_class = serializers.ReviewDecisionSerializer
    filter_serializer_class = serializers.ReviewDecisionFilterSerializer
    reveal_what = "review notes (API)"

    def get_queryset(self) -> QuerySet:
        return selectors.review_decision_list(**self.caller, filters=self.filters())
