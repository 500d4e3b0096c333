require "stringio"

module MiddleManagement
  module LocalFormation
    # Hands a WEBrick request under /middle_management to a Rack app (the
    # page) and its answer back: the local formation serves the page
    # beside Heroku's API without a second server. GET and HEAD only: the
    # page is read-only.
    module WebRequest
      module_function

      def under?(prefix, request)
        path = request.path
        path == prefix || path.start_with?("#{prefix}/")
      end

      def serve(app, prefix, request, response)
        status, headers, body = app.call(env(prefix, request))
        response.status = status
        headers.each { |name, value| response[name] = value }
        response.body = +""
        body.each { |part| response.body << part }
      ensure
        body.close if body.respond_to?(:close)
      end

      def env(prefix, request)
        env = {
          "REQUEST_METHOD" => request.request_method, "SCRIPT_NAME" => prefix,
          "PATH_INFO" => request.path.delete_prefix(prefix), "QUERY_STRING" => request.query_string.to_s,
          "SERVER_NAME" => request.host.to_s, "SERVER_PORT" => request.port.to_s,
          "REMOTE_ADDR" => request.peeraddr&.last.to_s,
          "SERVER_PROTOCOL" => "HTTP/#{request.http_version}", "rack.url_scheme" => "http",
          "rack.input" => StringIO.new(""), "rack.errors" => $stderr, "rack.version" => [1, 3],
          "rack.multithread" => true, "rack.multiprocess" => false, "rack.run_once" => false
        }
        request.header.each do |name, values|
          key = name.upcase.tr("-", "_")
          key = "HTTP_#{key}" unless %w[CONTENT_TYPE CONTENT_LENGTH].include?(key)
          env[key] = values.join(", ")
        end
        env
      end
    end
  end
end
