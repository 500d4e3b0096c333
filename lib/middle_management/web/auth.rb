require "digest"
require "rack"

module MiddleManagement
  class Web
    # Who may see the page. Closed by default: with neither credentials nor
    # an `authorize` block it answers 403 and says how to open it, so a
    # mount forgotten in routes shows nothing to the world. Credentials turn
    # on HTTP Basic; an `authorize` block decides alone.
    class Auth
      REALM = "Middle Management".freeze
      CLOSED = <<~TEXT.freeze
        Middle Management's page is closed until you open it. Either:

        - set MIDDLE_MANAGEMENT_WEB_USERNAME and MIDDLE_MANAGEMENT_WEB_PASSWORD
          and sign in with them (HTTP Basic), or
        - protect the mount in your app and say so:
            MiddleManagement::Web.authorize { |request| ... }   # true lets the request in

        The page is read-only; it never changes the formation.
      TEXT

      # `settings`: :local (open: the developer's own machine), or what
      # answers web_username and web_password (the Configuration).
      def initialize(settings, authorizer)
        @settings = settings
        @authorizer = authorizer
      end

      # A Rack response refusing the request, or nil to let it in.
      def check(request)
        return nil if @settings == :local
        if @authorizer
          return @authorizer.call(request) ? nil : forbidden("Not authorized by MiddleManagement::Web.authorize.\n")
        end

        username = @settings.web_username
        password = @settings.web_password
        return forbidden(CLOSED) unless username && password

        given = Rack::Auth::Basic::Request.new(request.env)
        return nil if given.provided? && given.basic? && match?(given.credentials, username, password)

        unauthorized
      end

      private

      # Digests of equal length, compared in constant time: neither the
      # length nor a common prefix of the password shows in the time taken.
      def match?(credentials, username, password)
        given_user, given_password = credentials
        user_ok = Rack::Utils.secure_compare(digest(given_user), digest(username))
        password_ok = Rack::Utils.secure_compare(digest(given_password), digest(password))
        user_ok & password_ok
      end

      def digest(text) = Digest::SHA256.hexdigest(text.to_s)

      def forbidden(text) = page(403, text)

      def unauthorized
        status, headers, body = page(401, "Sign in with MIDDLE_MANAGEMENT_WEB_USERNAME and MIDDLE_MANAGEMENT_WEB_PASSWORD.\n")
        [status, headers.merge("www-authenticate" => %(Basic realm="#{REALM}", charset="UTF-8")), body]
      end

      # A plain page: the text as it is, in HTML so every browser shows it.
      def page(status, text)
        html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Middle Management</title></head>" \
               "<body><pre>#{Rack::Utils.escape_html(text)}</pre></body></html>\n"
        [status, HEADERS.merge("content-type" => "text/html; charset=utf-8", "content-length" => html.bytesize.to_s), [html]]
      end
    end
  end
end
