require "json"
require "rack"

module MiddleManagement
  # The page: per pool the formation, what the work needs, a chart of the
  # last hour, day or week, the decisions with their reasons, and what the
  # dynos cost. A Rack app, read-only, closed until credentials or the app's
  # own authorization open it (Web::Auth).
  #
  #   mount MiddleManagement::Web => "/middle_management"   # config/routes.rb
  #   MiddleManagement::Web.authorize { |request| request.env["warden"]&.user&.admin? }
  class Web
    SPANS = { "hour" => 3_600, "day" => 86_400, "week" => 7 * 86_400 }.freeze
    # Nothing from anywhere else: no script, font or image from another host.
    CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:".freeze
    HEADERS = {
      "content-security-policy" => CSP, "x-content-type-options" => "nosniff", "x-frame-options" => "DENY",
      "referrer-policy" => "no-referrer", "cache-control" => "no-store"
    }.freeze

    class << self
      # The app protects the mount itself (Devise's `authenticate`, a route
      # constraint) and says so here; the block sees the Rack::Request.
      def authorize(&block)
        @authorizer = block
      end

      attr_reader :authorizer

      def call(env) = new.call(env)
    end

    # `source`: where the data comes from (Web::Data's interface), for
    # the bench and the specs; the gem's own status and history otherwise.
    # `local`: the local formation's page, on the developer's own machine
    # (127.0.0.1), open without credentials.
    def initialize(source: Data::Live.new, auth: nil, local: false)
      @source = source
      @local = local
      @auth = auth
    end

    def call(env)
      request = Rack::Request.new(env)
      return respond(405, "text/plain", "read-only: GET only\n") unless request.get? || request.head?

      denied = (@auth || Auth.new(@local ? :local : @source.configuration, Web.authorizer)).check(request)
      return denied if denied

      route(request)
    end

    private

    def route(request)
      span = SPANS.key?(request.params["span"]) ? request.params["span"] : "hour"
      case request.path_info
      when "", "/"
        data = Data.new(@source, span: span).to_h
        respond(200, "text/html; charset=utf-8", Page.new(data, base: request.script_name, local: @local).to_s)
      when "/status.json"
        respond(200, "application/json", JSON.generate(Data.new(@source, span: span).to_h))
      else
        respond(404, "text/plain", "not found\n")
      end
    end

    def respond(status, type, body)
      [status, HEADERS.merge("content-type" => type, "content-length" => body.bytesize.to_s), [body]]
    end
  end
end

# After the class: each part reopens it, and reopening it before it exists
# would set off the autoload of MiddleManagement::Web that loads this file.
require "middle_management/web/auth"
require "middle_management/web/data"
require "middle_management/web/chart"
require "middle_management/web/page"
