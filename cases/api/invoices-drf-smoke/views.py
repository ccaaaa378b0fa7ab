from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from .models import Invoice, Payment


class InvoiceSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    line_count = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = ["id", "number", "customer_name", "total", "status", "due_date", "line_count"]
        read_only_fields = ["number", "total", "status"]

    def get_line_count(self, obj):
        return obj.lines.count()


class InvoiceViewSet(viewsets.ModelViewSet):
    serializer_class = InvoiceSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        qs = Invoice.objects.order_by("-issued_at")
        if self.action in ("list", "search"):
            qs = qs.filter(organization=self.request.user.organization)
        return qs

    def perform_create(self, serializer):
        serializer.save(organization=self.request.user.organization)

    @action(detail=False)
    def search(self, request):
        term = request.query_params.get("q", "").strip()
        qs = self.get_queryset().extra(where=[f"number ILIKE '%%{term}%%' OR memo ILIKE '%%{term}%%'"])
        return Response(self.get_serializer(qs[:50], many=True).data)

    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        invoice = self.get_object()
        if invoice.status == "paid":
            return Response({"detail": "Invoice is already paid."}, status=status.HTTP_409_CONFLICT)
        Payment.objects.create(invoice=invoice, amount=invoice.total, method=request.data.get("method", "card"))
        invoice.status = "paid"
        invoice.save(update_fields=["status"])
        return Response(self.get_serializer(invoice).data)


class PublicInvoiceView(generics.RetrieveAPIView):
    # Opened from the link in the invoice email. public_token is secrets.token_urlsafe(32),
    # so the unguessable token is the credential here, as with a signed download link.
    permission_classes = [AllowAny]
    serializer_class = InvoiceSerializer
    queryset = Invoice.objects.select_related("customer")
    lookup_field = "public_token"
