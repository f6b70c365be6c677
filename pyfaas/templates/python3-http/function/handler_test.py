from .handler import handle

# Test your handler here


def test_handle():
    # assert handle(event, context)["statusCode"] == 200
    pass
